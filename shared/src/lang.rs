//! The two languages classbook speaks (Simplified Chinese and English): one type for the
//! page's interface, the lessons' `?lang=`, and what the server says to a page or a teacher.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// The course's first language.
    #[default]
    Zh,
    En,
}

impl Lang {
    /// `zh`, `zh-CN`, `zh-TW`… are Chinese; every other language tag gets English.
    pub fn from_code(code: &str) -> Lang {
        if code.trim().to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The code lessons and the server use (`?lang=`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The one of two wordings in this language: `lang.pick("你好", "hello")`.
    pub fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_map_to_the_two_languages_and_back() {
        for (tag, want) in [("zh", Lang::Zh), ("zh-TW", Lang::Zh), ("ZH-cn", Lang::Zh), ("en-GB", Lang::En), ("de", Lang::En), ("", Lang::En)] {
            assert_eq!(Lang::from_code(tag), want, "{tag}");
        }
        assert_eq!(Lang::from_code(Lang::En.code()), Lang::En);
        assert_eq!(serde_json::to_string(&Lang::Zh).unwrap(), "\"zh\"");
        assert_eq!(Lang::En.pick("你好", "hello"), "hello");
    }
}
