//! The teacher's page (`#/teacher`): the token (from the address once, then sessionStorage),
//! a board refreshed every 2 s (students, programs, grid, course errors), and class actions.

mod api;
mod broadcast;
mod grid;
mod help;
mod solutions;
mod students;

use crate::api::HttpError;
use crate::i18n::tr;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::course::LessonSummary;
use std::time::Duration;

const TOKEN_KEY: &str = "classbook.teacher-token";

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn stored_token() -> Option<String> {
    session()?.get_item(TOKEN_KEY).ok()?.filter(|t| !t.is_empty())
}

fn store_token(token: Option<&str>) {
    if let Some(s) = session() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

/// Everything the page shows; refreshed as a whole every 2 s and after each action.
#[derive(Clone, Copy)]
pub struct Board {
    pub token: RwSignal<Option<String>>,
    /// The server answered 401 to the last token.
    pub refused: RwSignal<bool>,
    /// The last failure other than a refused token (e.g. the server is unreachable).
    pub problem: RwSignal<Option<String>>,
    pub students: RwSignal<Vec<api::Student>>,
    pub progress: RwSignal<api::Progress>,
    pub course: RwSignal<Option<api::CourseStatus>>,
    pub lessons: RwSignal<Vec<LessonSummary>>,
    pub solutions: RwSignal<api::Solutions>,
    /// The student whose work the teacher has open.
    pub viewing: RwSignal<Option<u64>>,
    /// The projector view: the class's progress in large type, no names.
    pub projector: RwSignal<bool>,
    /// This browser's clock at the last refresh, for "12 s ago".
    pub now_ms: RwSignal<f64>,
    busy: StoredValue<bool>,
}

impl Board {
    /// The title of lesson `id` (the id itself while the list is loading or for a lesson gone).
    pub fn title(&self, id: &str) -> String {
        self.lessons.with(|l| l.iter().find(|l| l.id == id).map(|l| l.title.clone())).unwrap_or_else(|| id.to_string())
    }
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|v| *v != value) {
        signal.set(value);
    }
}

impl Board {
    fn new(token: Option<String>) -> Board {
        Board {
            token: RwSignal::new(token),
            refused: RwSignal::new(false),
            problem: RwSignal::new(None),
            students: RwSignal::new(Vec::new()),
            progress: RwSignal::new(api::Progress::default()),
            course: RwSignal::new(None),
            lessons: RwSignal::new(Vec::new()),
            solutions: RwSignal::new(api::Solutions::default()),
            viewing: RwSignal::new(None),
            projector: RwSignal::new(false),
            now_ms: RwSignal::new(js_sys::Date::now()),
            busy: StoredValue::new(false),
        }
    }

    /// Fetches everything again (skipped while the previous refresh is still on its way).
    pub fn refresh(self) {
        let Some(token) = self.token.get_untracked() else { return };
        if self.busy.get_value() {
            return;
        }
        self.busy.set_value(true);
        spawn_local(async move {
            let all = async {
                let students = api::students(&token).await?;
                let progress = api::progress(&token).await?;
                let course = api::course(&token).await?;
                let solutions = api::solutions(&token).await?;
                Ok::<_, HttpError>((students, progress, course, solutions))
            };
            match all.await {
                Ok((students, progress, course, solutions)) => {
                    set_if_changed(self.solutions, solutions);
                    self.now_ms.set(js_sys::Date::now());
                    set_if_changed(self.students, students);
                    set_if_changed(self.progress, progress);
                    set_if_changed(self.course, Some(course));
                    set_if_changed(self.problem, None);
                }
                Err(e) => self.failed(e),
            }
            self.busy.set_value(false);
        });
    }

    /// A failed call: a refused token asks for the token again; anything else is shown
    /// (the next refresh tries again).
    pub fn failed(self, e: HttpError) {
        if e.status == Some(401) {
            store_token(None);
            self.token.set(None);
            self.refused.set(true);
        } else {
            self.problem.set(Some(e.to_string()));
        }
    }

    /// Runs a teacher action, then refreshes the board; `done` gets whether it worked.
    pub fn act<F>(self, action: impl FnOnce(String) -> F + 'static, done: impl FnOnce(bool) + 'static)
    where
        F: std::future::Future<Output = Result<(), HttpError>> + 'static,
    {
        let Some(token) = self.token.get_untracked() else { return };
        spawn_local(async move {
            match action(token).await {
                Ok(()) => {
                    done(true);
                    self.refresh();
                }
                Err(e) => {
                    done(false);
                    self.failed(e);
                }
            }
        });
    }
}

#[component]
pub fn TeacherPage(token: Option<String>) -> impl IntoView {
    // A token in the address is stored for this tab and taken out of the address bar (and so
    // out of the history and of anything a projector shows).
    if let Some(t) = &token {
        store_token(Some(t));
        if let Some(w) = web_sys::window() {
            let _ = w.history().and_then(|h| h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("#/teacher")));
        }
    }
    let board = Board::new(token.or_else(stored_token));
    board.refresh();
    spawn_local(async move {
        if let Ok(list) = crate::api::lessons(crate::i18n::lang().get_untracked()).await {
            board.lessons.set(list);
        }
    });
    if let Ok(h) = set_interval_with_handle(move || board.refresh(), Duration::from_secs(2)) {
        on_cleanup(move || h.clear());
    }
    view! {
        <div class="teacher" data-role="teacher">
            <h1>{move || tr("teacher-title")}" · "{move || crate::class::title().get()}</h1>
            {move || match board.token.get() {
                None => view! { <TokenForm board=board/> }.into_any(),
                Some(_) if board.projector.get() => view! { <grid::Projector board=board/> }.into_any(),
                Some(_) => view! {
                    {move || board.problem.get().map(|p| view! {
                        <p class="error" role="status" data-role="problem">{p}</p>
                    })}
                    <CourseErrors board=board/>
                    <students::StudentsTable board=board/>
                    <help::StudentWork board=board/>
                    <grid::ProgressGrid board=board/>
                    <solutions::SolutionsPanel board=board/>
                    <broadcast::Broadcast board=board/>
                }.into_any(),
            }}
        </div>
    }
}

/// Where to paste the token printed by `classbook serve`; says so when one was refused.
#[component]
fn TokenForm(board: Board) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = text.get_untracked().trim().to_string();
        if t.is_empty() {
            return;
        }
        store_token(Some(&t));
        board.refused.set(false);
        board.problem.set(None);
        board.token.set(Some(t));
        board.refresh();
    };
    view! {
        <form class="token-form" data-role="token-form" on:submit=submit>
            {move || board.refused.get().then(|| view! {
                <p class="error" role="alert" data-role="unauthorized">{move || tr("teacher-refused")}</p>
            })}
            <p>{move || tr("teacher-token-help")}</p>
            <label>
                <span>{move || tr("teacher-token")}</span>
                <input type="password" data-role="token" autocomplete="off"
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="run" data-action="use-token">{move || tr("teacher-open")}</button>
        </form>
    }
}

/// The errors of the last course reload that failed (the students keep the previous version).
#[component]
fn CourseErrors(board: Board) -> impl IntoView {
    move || {
        board.course.get().filter(|c| !c.errors.is_empty()).map(|c| view! {
            <section class="course-errors" role="alert" data-role="course-errors" aria-labelledby="course-errors-title">
                <h2 id="course-errors-title">{move || tr("teacher-course-errors")}</h2>
                <ul>
                    {c.errors.into_iter().map(|e| {
                        let place = match e.line {
                            Some(l) => format!("{}:{l}", e.file),
                            None => e.file.clone(),
                        };
                        view! { <li><code>{place}</code>": "{e.message}</li> }
                    }).collect_view()}
                </ul>
            </section>
        })
    }
}
