//! Interface text in Simplified Chinese and English, with the choice remembered.
//! `tr(key)` reads the language signal, so text updates when the student switches.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

thread_local! {
    static LANG: RwSignal<Lang> = RwSignal::new(initial());
}

/// The remembered choice, else Chinese: the course is written in Chinese.
fn initial() -> Lang {
    match crate::storage::get("lang").as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Zh,
    }
}

pub fn lang() -> RwSignal<Lang> {
    LANG.with(|l| *l)
}

pub fn set_lang(l: Lang) {
    crate::storage::set("lang", if l == Lang::En { "en" } else { "zh" });
    lang().set(l);
}

/// (key, 中文, English)
const TEXT: &[(&str, &str, &str)] = &[
    ("app", "classbook · Python 课堂", "classbook · Python class"),
    ("lessons", "课程目录", "Lessons"),
    ("minutes", "分钟", "min"),
    ("exercises", "个练习", "exercises"),
    ("loading", "加载中…", "Loading…"),
    ("run", "运行", "Run"),
    ("stop", "停止", "Stop"),
    ("send", "发送", "Send"),
    ("eof", "结束输入", "Close input"),
    ("input", "程序在等待输入", "The program waits for input"),
    ("prev", "上一课", "Previous"),
    ("next", "下一课", "Next"),
    ("scratch", "草稿", "Scratch"),
    ("engine-loading", "正在启动浏览器里的 Python", "Starting Python in the browser"),
    ("engine-ready", "浏览器 Python 已就绪", "Browser Python ready"),
    ("engine-failed", "浏览器 Python 无法启动", "Browser Python failed to start"),
    ("server-open", "已连接班级服务器", "Connected to the class server"),
    ("server-closed", "未连接班级服务器，正在重试", "Not connected to the class server; retrying"),
    ("runs-browser", "在浏览器中运行", "runs in your browser"),
    ("runs-server", "在班级服务器的沙箱中运行", "runs in the class server's sandbox"),
    ("exit-ok", "完成", "Done"),
    ("exit-code", "退出码", "exit code"),
    ("exit-signal", "被信号终止", "killed by signal"),
    ("interrupted", "已中断", "Interrupted"),
    ("cpu", "CPU", "CPU"),
    ("wall", "用时", "time"),
    ("truncated", "输出过多，已截断", "output was cut"),
    ("not-found", "找不到这个页面", "This page does not exist"),
    ("back", "返回目录", "Back to the lessons"),
    ("hint", "提示", "Hint"),
    ("solution", "参考答案", "Solution"),
    ("exercise", "练习", "Exercise"),
    ("language", "English", "中文"),
    ("check", "检查", "Check"),
    ("checking", "检查中…", "Checking…"),
    ("all-passed", "全部通过！", "All checks passed!"),
    ("not-yet", "还有", "Not yet:"),
    ("checks-failed", "项没通过", "check(s) failed"),
    ("check-crashed", "检查没能完成：", "The check could not finish:"),
    ("queued", "排队中", "Queued"),
    ("ahead", "个在前面", "ahead"),
    ("share", "复制分享链接", "Copy share link"),
    ("copied", "链接已复制", "Link copied"),
    ("run-on-server", "在服务器上运行", "Run on the server"),
    ("restart-python", "重启 Python", "Restart Python"),
    ("restarted", "Python 已重启，之前的变量都已清空", "Python was restarted; earlier variables are gone"),
    // The class (issue 8): joining, the teacher's messages, the teacher's page.
    ("join-title", "加入课堂", "Join the class"),
    ("join-name", "你的名字（老师会看到）", "Your name (the teacher sees it)"),
    ("join-code", "课堂口令", "Class access code"),
    ("join", "加入", "Join"),
    ("join-later", "稍后", "Later"),
    ("join-change", "修改名字", "Change your name"),
    ("join-name-empty", "请输入名字", "Please enter a name"),
    ("join-name-long", "名字最多 40 个字", "A name has at most 40 characters"),
    ("join-wrong-code", "口令不对，请向老师确认", "Wrong access code; ask the teacher"),
    ("join-too-many", "刚才输错口令的次数太多，请等几秒再试", "Too many wrong codes just now; wait a few seconds and try again"),
    ("join-full", "课堂已满", "The class is full"),
    ("join-unreachable", "连不上班级服务器，请检查网络后再试", "The class server cannot be reached; check the network and try again"),
    ("join-refused", "服务器拒绝了", "The server refused"),
    ("notice-from", "老师：", "Teacher:"),
    ("dismiss", "关闭", "Dismiss"),
    ("anonymous", "（匿名）", "(anonymous)"),
    ("ago-s", " 秒前", " s ago"),
    ("ago-min", " 分钟前", " min ago"),
    ("ago-h", " 小时前", " h ago"),
    ("teacher-title", "教师页面", "Teacher"),
    ("teacher-refused", "服务器拒绝了这个教师令牌（401）。请粘贴 classbook serve 启动时打印的令牌。", "The server refused this teacher token (401). Paste the token that classbook serve printed at start."),
    ("teacher-token-help", "教师令牌在 classbook serve 启动时打印（教师网址里 token= 后面的部分）。", "classbook serve prints the teacher token at start (the part after token= in the teacher URL)."),
    ("teacher-token", "教师令牌", "Teacher token"),
    ("teacher-open", "打开", "Open"),
    ("teacher-course-errors", "课程文件有错误，学生仍看到上一个版本", "The course files have errors; students still see the previous version"),
    ("teacher-students", "学生", "Students"),
    ("teacher-online", "在线", "online"),
    ("teacher-offline", "离线", "offline"),
    ("teacher-name", "名字", "Name"),
    ("teacher-lesson", "当前课程", "Lesson"),
    ("teacher-last-active", "最近活动", "Last activity"),
    ("teacher-memory", "内存", "Memory"),
    ("teacher-programs", "运行中的程序", "Running programs"),
    ("teacher-nobody", "还没有学生加入。", "No student has joined yet."),
    ("teacher-stop-all", "全部停止", "Stop all"),
    ("teacher-running", "运行中", "running"),
    ("teacher-progress", "练习进度", "Exercise progress"),
    ("teacher-passed", "通过", "passed"),
    ("teacher-tried", "尝试过", "tried"),
    ("teacher-not-yet", "还没做", "not yet"),
    ("teacher-export", "导出 CSV", "Export CSV"),
    ("teacher-class", "全班", "The whole class"),
    ("teacher-message", "给所有学生发消息", "Message to every student"),
    ("teacher-send", "发送", "Send"),
    ("teacher-sending", "发送中…", "Sending…"),
    ("teacher-sent", "已发送", "Sent"),
    ("teacher-send-failed", "没有发出去", "Not sent"),
    ("teacher-goto", "带全班去这一课", "Take the class to a lesson"),
    ("teacher-goto-button", "前往", "Go"),
];

pub fn tr(key: &str) -> &'static str {
    let en = lang().get() == Lang::En;
    TEXT.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, zh, e)| if en { *e } else { *zh })
        .unwrap_or("?")
}
