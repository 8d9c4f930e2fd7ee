//! Interface text in Simplified Chinese and English, with the choice remembered.
//! `tr(key)` reads the language signal, so text updates when the student switches.

use leptos::prelude::*;

pub use shared::lang::Lang;

thread_local! {
    // Reference-counted, not owned by whichever view first asked: it lives as long as the page.
    static LANG: ArcRwSignal<Lang> = ArcRwSignal::new(initial());
}

/// The student's remembered choice, else the browser's language (Chinese for a browser set
/// to Chinese, English otherwise); the class's language replaces the latter once known.
fn initial() -> Lang {
    let chosen = crate::storage::get("lang");
    let browser = || web_sys::window().and_then(|w| w.navigator().language());
    match chosen.or_else(browser).as_deref().map(Lang::from_code) {
        Some(l) => l,
        None => Lang::Zh,
    }
}

/// The teacher set a language for the class: pages whose student chose none use it.
pub fn follow_class(class_lang: Option<&str>) {
    if let (None, Some(code)) = (crate::storage::get("lang"), class_lang) {
        lang().set(Lang::from_code(code));
    }
}

pub fn lang() -> ArcRwSignal<Lang> {
    LANG.with(|l| l.clone())
}

pub fn set_lang(l: Lang) {
    crate::storage::set("lang", l.code());
    lang().set(l);
}

/// (key, 中文, English)
const TEXT: &[(&str, &str, &str)] = &[
    ("app", "classbook · Python 课堂", "classbook · Python class"),
    ("lessons", "课程目录", "Lessons"),
    ("minutes", "分钟", "min"),
    ("exercises", "个练习", "exercises"),
    ("loading", "加载中…", "Loading…"),
    ("lesson-not-translated", "这一课还没有中文版，下面是英文原文。", "This lesson is not in English yet: it is shown in Chinese."),
    ("run", "运行", "Run"),
    ("stop", "停止", "Stop"),
    ("send", "发送", "Send"),
    ("eof", "结束输入", "Close input"),
    ("input", "程序在等待输入", "The program waits for input"),
    ("input-optional", "给程序的一行输入（程序读取时才用到）", "A line of input for the program (used when it reads)"),
    ("give-input", "⌨ 输入", "⌨ Input"),
    ("prev", "上一课", "Previous"),
    ("next", "下一课", "Next"),
    ("scratch", "草稿", "Scratch"),
    ("engine-loading", "正在启动浏览器里的 Python", "Starting Python in the browser"),
    ("engine-ready", "浏览器 Python 已就绪", "Browser Python ready"),
    ("engine-failed", "浏览器 Python 无法启动", "Browser Python failed to start"),
    ("server-open", "已连接班级服务器", "Connected to the class server"),
    ("server-closed", "未连接班级服务器，正在重试", "Not connected to the class server; retrying"),
    ("server-connecting", "正在连接班级服务器…", "Connecting to the class server…"),
    ("server-join-first", "加入课堂后连接服务器", "Connects once you join the class"),
    ("scratch-runtime", "在哪里运行", "Runs in"),
    ("refused-join", "请先加入课堂，才能在服务器上运行程序", "Join the class first to run programs on the server"),
    ("refused-full", "课堂已满，老师可以调高人数上限", "The class is full; the teacher can raise the limit"),
    ("refused-new", "这台电脑最近加入的新同学太多，请一分钟后再试", "Too many new students from this computer lately; try again in a minute"),
    ("refused-pages", "你在太多页面里打开了课堂，请关掉一些再刷新", "You have the class open in too many pages; close some and reload"),
    ("refused-stopping", "班级服务器正在停止，稍后会自动重连", "The class server is stopping; this page reconnects when it is back"),
    ("refused-failed", "班级服务器出错", "The class server failed"),
    ("runs-browser", "在浏览器中运行", "runs in your browser"),
    ("runs-server", "在班级服务器的沙箱中运行", "runs in the class server's sandbox"),
    ("exit-ok", "完成", "Done"),
    ("exit-code", "退出码", "exit code"),
    ("exit-signal", "程序被系统信号结束，信号编号", "ended by the system, signal"),
    ("end-wall", "运行时间超过了上限", "it ran longer than the limit of"),
    ("end-cpu", "CPU 时间超过了上限", "it used more CPU time than the limit of"),
    ("seconds", "秒", "s"),
    ("end-memory", "内存超过了上限", "it used more memory than the limit of"),
    ("end-processes", "进程数超过了上限", "it started more processes than the limit of"),
    ("end-teacher", "老师停止了它", "the teacher stopped it"),
    ("end-page-closed", "启动它的页面关闭了", "the page that started it was closed"),
    ("end-restarted", "它没有按要求结束，所以你的沙箱重新启动了", "it did not end when asked, so your sandbox was restarted"),
    ("exit-killed", "程序被强制结束", "The program was ended by force"),
    ("exit-terminated", "程序被要求结束", "The program was asked to end"),
    ("exit-crashed", "程序崩溃了（内存访问错误）", "The program crashed (memory access error)"),
    ("exit-cpu", "程序用完了 CPU 时间", "The program used up its CPU time"),
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
    ("check-error", "代码出错，后面的检查没有运行：", "An error stopped the checks:"),
    ("not-run", "（没有运行）", "(not run)"),
    ("queued", "排队中", "Queued"),
    ("ahead", "个在前面", "ahead"),
    ("share", "复制分享链接", "Copy share link"),
    ("copied", "链接已复制", "Link copied"),
    ("run-on-server", "在服务器上运行", "Run on the server"),
    ("restart-python", "重启 Python", "Restart Python"),
    ("restarted", "Python 已重启，之前的变量都已清空", "Python was restarted; earlier variables are gone"),
    (
        "run-too-large",
        "这次运行的代码和文件太大，没有发送给服务器",
        "This run's code and files are too large to send to the class server",
    ),
    (
        "stop-restarted",
        "已停止：这个页面通过普通 http 打开，停止正在计算的代码只能重启 Python，所以本课的变量已被重置（请从上面的单元格重新运行）",
        "Stopped: this page was opened over plain http, where stopping code that is computing means restarting Python, so this lesson's variables were reset (run the cells above again)",
    ),
    (
        "stop-restarted-slow",
        "Python 在 2 秒内没有响应停止，已重启，本课的变量已被重置",
        "Python did not answer Stop within 2 s and was restarted; this lesson's variables were reset",
    ),
    // Notebook experience: saved edits, export/import, settings, shortcuts, progress.
    ("edited", "已修改（已保存在本浏览器）", "edited (saved in this browser)"),
    ("reset-cell", "恢复原始代码", "Reset to original"),
    ("reset-lesson", "本课恢复原始代码", "Reset lesson to original"),
    ("reset-lesson-confirm", "本课的所有修改都会丢失。确定吗？", "All your edits in this lesson will be lost. Sure?"),
    ("yes-reset", "确定恢复", "Yes, reset"),
    ("cancel", "取消", "Cancel"),
    ("original-changed", "老师修改了这个单元格的原始代码，你的修改仍然保留。", "The teacher changed this cell's original; your edit is kept."),
    ("show-original", "对比新的原始代码", "Compare with the new original"),
    ("hide-original", "收起对比", "Hide comparison"),
    ("take-original", "换成新的原始代码", "Take the new original"),
    ("keep-mine", "保留我的", "Keep mine"),
    ("new-original", "新的原始代码", "New original"),
    ("your-code", "你的代码", "Your code"),
    ("diff-caption", "不同之处（- 只在你的代码里，+ 只在新的原始代码里）", "Differences (- only in your code, + only in the new original)"),
    ("export-ipynb", "导出 .ipynb", "Export .ipynb"),
    ("export-py", "导出 .py", "Export .py"),
    ("import-ipynb", "导入 .ipynb 到草稿", "Import .ipynb into scratch"),
    ("import-failed", "无法导入，什么都没有改变：", "Cannot import; nothing was changed:"),
    ("imported", "导入的笔记本", "Imported notebook"),
    ("remove-imported", "移除导入的笔记本", "Remove the imported notebook"),
    ("settings", "设置", "Settings"),
    ("theme", "配色", "Theme"),
    ("theme-system", "跟随系统", "Follow the system"),
    ("theme-light", "浅色", "Light"),
    ("theme-dark", "深色", "Dark"),
    ("erase", "清除我的全部数据", "Erase all my data"),
    ("erase-confirm", "这会删除本浏览器中你的全部修改、进度和设置，无法恢复。确定吗？", "This deletes all your edits, progress and settings in this browser, for good. Sure?"),
    ("erase-yes", "确定清除", "Yes, erase everything"),
    ("close", "关闭", "Close"),
    ("help", "快捷键", "Keyboard shortcuts"),
    ("key-run-next", "运行，然后到下一个单元格", "Run, then go to the next cell"),
    ("key-run", "运行，留在本单元格", "Run and stay in the cell"),
    ("key-stop", "停止运行", "Stop the run"),
    ("key-comment", "注释 / 取消注释", "Comment / uncomment"),
    ("key-indent", "缩进 / 减少缩进", "Indent / unindent"),
    ("key-undo", "撤销 / 重做（每个单元格各自的历史）", "Undo / redo (each cell has its own history)"),
    ("key-leave", "离开编辑器：先按 Esc，再按 Tab", "Leave the editor: Esc, then Tab"),
    ("key-help", "显示本帮助（不在编辑器中时）", "Show this help (outside an editor)"),
    ("passed", "已通过", "Passed"),
    ("not-passed", "尚未通过", "Not yet passed"),
    ("exercises-passed", "个练习已通过", "exercises passed"),
    ("copy-failed", "无法自动复制，请手动复制：", "Could not copy; copy it by hand:"),
    ("share-link", "分享链接", "Share link"),
    ("code-of", "代码", "Code of"),
    ("save-failed", "浏览器拒绝保存（存储已满或被禁用）：这个修改只在本页面上，请先导出或复制。", "The browser refused to save (storage full or disabled): this edit lives only on this page; export or copy it."),
    // TFTP: the packet sequence diagram and the TFTP server exercise's cases.
    ("trace-title", "TFTP 报文时序图", "TFTP packet sequence diagram"),
    ("trace-client", "客户端", "client"),
    ("trace-server", "服务器", "server"),
    ("trace-transfer", "传输", "transfer"),
    ("trace-folded", "还有 {n} 个 DATA/ACK", "{n} more DATA/ACK"),
    ("trace-retransmit", "重传", "retransmitted"),
    // A server run's recordings: its loopback packets and calls, its threads' timeline.
    ("packets-title", "回环接口上的报文与套接字调用", "Packets on the loopback and socket calls"),
    ("packets-cut", "记录在 {shown} 个报文后截断：另有 {n} 个未显示，程序照常运行", "recording cut after {shown} packets: {n} more not shown; the program goes on"),
    ("timeline-title", "进程与线程时间线", "Timeline of processes and threads"),
    ("timeline-cut", "时间线在 {shown} 个事件后截断：另有 {n} 个未显示", "timeline cut after {shown} events: {n} more not shown"),
    ("timeline-waits-on", "等待", "waits on"),
    ("timeline-held-by", "持有者", "held by"),
    ("timeline-task", "运行任务", "ran task"),
    ("deadlock", "死锁：这些线程互相等待，谁也无法继续", "Deadlock: these threads wait for each other, none can go on"),
    ("deadlock-step", "{who} 在第 {line} 行等待 {on}，它被 {holder} 持有", "{who} waits at line {line} for a {on} held by {holder}"),
    ("tftp-case-download", "下载一个生成的文件，内容逐字节一致", "downloads a generated file, byte for byte"),
    ("tftp-case-upload", "上传的文件原样存进当前目录", "stores an uploaded file unchanged in the current directory"),
    ("tftp-case-missing_file", "请求不存在的文件时回 ERROR 1", "answers ERROR 1 for a missing file"),
    ("tftp-case-lost_ack", "ACK 丢失后重传 DATA", "retransmits DATA when an ACK is lost"),
    // What to look at when a case fails (RFC 1350), shown after the checker's own words.
    ("tftp-hint-download", "提示：收到 RRQ 后依次发送 DATA 1、2、…，每块 512 字节，收到这一块的 ACK 再发下一块；不足 512 字节（可以是 0 字节）的一块表示文件结束。", "Hint: after an RRQ send DATA 1, 2, … of 512 bytes each, the next one only once this one is ACKed; a block shorter than 512 bytes (0 is allowed) ends the file."),
    ("tftp-hint-upload", "提示：收到 WRQ 后先回 ACK 0，之后每收到 DATA n 就回 ACK n，并把数据写进当前目录下的同名文件。", "Hint: answer a WRQ with ACK 0, then each DATA n with ACK n, writing the data to a file of that name in the current directory."),
    ("tftp-hint-missing_file", "提示：文件不存在时回一个 ERROR 包：操作码 5、错误码 1，再跟一段以 0 字节结尾的说明文字。", "Hint: for a missing file send an ERROR packet: opcode 5, error code 1, then a message ending with a 0 byte."),
    ("tftp-hint-lost_ack", "提示：等 ACK 要设超时（例如 socket.settimeout）；超时了就重发上一个 DATA（同一块号）。检查会故意丢掉 ACK 3，最多等 8 秒看你是否重发 DATA 3。", "Hint: wait for an ACK with a timeout (e.g. socket.settimeout); on timeout resend the last DATA with the same block number. The check drops ACK 3 on purpose and waits up to 8 s for DATA 3 again."),
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
    ("join-wrong-restore", "恢复码不对、已用过或超过 10 分钟，请向老师要一个新的", "The restore code is wrong, used, or older than 10 minutes; ask the teacher for a new one"),
    ("join-restore", "换了电脑？找回你的代码", "On another computer? Get your code back"),
    ("join-restore-help", "请老师在教师页面为你生成一个恢复码（10 分钟内有效，只能用一次），填在这里。这台电脑就会变成你，之前保存在服务器上的代码会回来。", "Ask the teacher for a restore code (made on the teacher page, valid 10 minutes, once) and enter it here: this computer becomes you, and the code the server kept comes back."),
    ("join-restore-code", "恢复码", "Restore code"),
    ("restore-failed", "没能取回你的代码", "Your code could not be fetched"),
    ("refused-removed", "老师把你移出了课堂，请重新加入", "The teacher removed you from the class; join again"),
    ("work-refused", "服务器没有保存这段代码（浏览器里仍然保存着）", "The server did not keep this code (this browser still has it)"),
    ("hand-up", "举手", "Raise hand"),
    ("hand-down", "放下手", "Lower hand"),
    ("hand-help", "请老师来帮忙：老师的名单会把你排在最前面", "Ask the teacher for help: you go to the top of the teacher's list"),
    ("hand-answered", "老师看到你举手了", "The teacher has seen your raised hand"),
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
    ("teacher-attempts", "次检查", "checks"),
    ("teacher-first-pass", "首次通过", "first passed"),
    ("teacher-passed-count", "通过人数", "Passed"),
    ("teacher-attempts-count", "检查次数", "Checks"),
    ("teacher-projector", "投影模式", "Projector"),
    ("teacher-hand", "举手了", "hand raised"),
    ("teacher-answer", "回应", "Answer"),
    ("teacher-view-work", "看代码", "View work"),
    ("teacher-work-of", "学生的代码：", "Work of"),
    ("teacher-rename", "改名", "Rename"),
    ("teacher-remove", "移出课堂", "Remove"),
    ("teacher-remove-confirm", "移出课堂并删除其全部记录：", "Remove from the class, with everything kept about them:"),
    ("teacher-restore-code", "生成恢复码", "Restore code"),
    ("teacher-restore-help", "让学生在新电脑的加入对话框里填这个恢复码", "the student enters it in the join dialog on the new computer"),
    ("teacher-close", "关闭", "Close"),
    ("teacher-edited", "改过", "edited"),
    ("teacher-unchanged", "没改过", "unchanged"),
    ("teacher-reset", "重置这个练习", "Reset this exercise"),
    ("teacher-solutions", "参考答案", "Solutions"),
    ("teacher-solutions-state", "学生能否查看", "Students may open them"),
    ("teacher-opened-by", "谁看过", "Opened by"),
    ("teacher-hidden", "已隐藏", "hidden"),
    ("teacher-released", "已公开", "released"),
    ("teacher-hide", "隐藏", "Hide"),
    ("teacher-release", "公开", "Release"),
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

/// The text of `key` in the current language, without subscribing (for labels fixed when a
/// view is made, outside reactive closures).
pub fn tr_now(key: &str) -> &'static str {
    untrack(|| tr(key))
}

pub fn tr(key: &str) -> &'static str {
    let en = lang().get() == Lang::En;
    TEXT.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, zh, e)| if en { *e } else { *zh })
        .unwrap_or("?")
}
