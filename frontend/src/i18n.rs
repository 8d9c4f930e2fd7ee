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
    // TFTP: the packet sequence diagram and the TFTP server exercise's cases.
    ("trace-title", "TFTP 报文时序图", "TFTP packet sequence diagram"),
    ("trace-client", "客户端", "client"),
    ("trace-server", "服务器", "server"),
    ("trace-transfer", "传输", "transfer"),
    ("trace-folded", "还有 {n} 个 DATA/ACK", "{n} more DATA/ACK"),
    ("trace-retransmit", "重传", "retransmitted"),
    ("tftp-case-download", "下载一个生成的文件，内容逐字节一致", "downloads a generated file, byte for byte"),
    ("tftp-case-upload", "上传的文件原样存进当前目录", "stores an uploaded file unchanged in the current directory"),
    ("tftp-case-missing_file", "请求不存在的文件时回 ERROR 1", "answers ERROR 1 for a missing file"),
    ("tftp-case-lost_ack", "ACK 丢失后重传 DATA", "retransmits DATA when an ACK is lost"),
];

pub fn tr(key: &str) -> &'static str {
    let en = lang().get() == Lang::En;
    TEXT.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, zh, e)| if en { *e } else { *zh })
        .unwrap_or("?")
}
