//! The settings file (`serve --config FILE`): TOML keyed by `serve`'s long flag names
//! (`max-students = 40`). A flag or its environment variable wins over it; it wins over defaults.

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use std::ffi::OsString;
use std::path::Path;

/// The `--key=value` arguments the file adds: one per key that neither a flag nor an
/// environment variable already set. Unknown keys and values of the wrong kind are errors
/// naming the file.
pub fn file_args(file: &Path, cmd: &clap::Command, given: &clap::ArgMatches) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read the settings file {}", file.display()))?;
    let table: toml::Table = text.parse().map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut args = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(long.as_str()) && long != "config") else {
            let known: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).filter(|l| *l != "config" && *l != "help").collect();
            bail!("{}: unknown setting '{key}' (known: {})", file.display(), known.join(", "));
        };
        if matches!(given.value_source(arg.get_id().as_str()), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue; // a flag or the environment says otherwise
        }
        let takes_value = arg.get_action().takes_values();
        match (value, takes_value) {
            (toml::Value::Boolean(on), false) => {
                if on {
                    args.push(format!("--{long}").into());
                }
            }
            (toml::Value::String(s), true) => args.push(format!("--{long}={s}").into()),
            (toml::Value::Integer(n), true) => args.push(format!("--{long}={n}").into()),
            (toml::Value::Float(x), true) => args.push(format!("--{long}={x}").into()),
            // A flag given several times (`--allowed-origin`) takes a list.
            (toml::Value::Array(items), true) if matches!(arg.get_action(), clap::ArgAction::Append) => {
                for item in items {
                    match item {
                        toml::Value::String(s) => args.push(format!("--{long}={s}").into()),
                        v => bail!("{}: each of '{key}' must be a string, not {}", file.display(), v.type_str()),
                    }
                }
            }
            (v, true) => bail!("{}: '{key}' must be a string or a number, not {}", file.display(), v.type_str()),
            (v, false) => bail!("{}: '{key}' must be true or false, not {}", file.display(), v.type_str()),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cmd() -> Command {
        Command::new("serve")
            .arg(Arg::new("config").long("config"))
            .arg(Arg::new("bind").long("bind").default_value("127.0.0.1:8080").env("TEST_CLASSBOOK_BIND"))
            .arg(Arg::new("max_students").long("max-students").default_value("60"))
            .arg(Arg::new("unsafe").long("unsafe-no-sandbox").action(ArgAction::SetTrue))
            .arg(Arg::new("allowed").long("allowed-origin").action(ArgAction::Append).value_delimiter(','))
    }

    #[test]
    fn a_flag_given_several_times_takes_a_list_or_a_comma_separated_string() {
        let dir = std::env::temp_dir().join(format!("classbook-config-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("classbook.toml");
        let given = cmd().get_matches_from(["serve"]);
        std::fs::write(&file, "allowed-origin = [\"https://a.example\", \"http://b.example:8080\"]\n").unwrap();
        let args = file_args(&file, &cmd(), &given).unwrap();
        assert_eq!(args, [OsString::from("--allowed-origin=https://a.example"), OsString::from("--allowed-origin=http://b.example:8080")]);
        std::fs::write(&file, "allowed_origin = \"https://a.example,http://b.example\"\n").unwrap();
        let mut argv = vec![OsString::from("serve")];
        argv.extend(file_args(&file, &cmd(), &given).unwrap());
        let parsed = cmd().get_matches_from(argv);
        let origins: Vec<&String> = parsed.get_many::<String>("allowed").unwrap().collect();
        assert_eq!(origins, ["https://a.example", "http://b.example"]);
        std::fs::write(&file, "allowed-origin = [1]\n").unwrap();
        assert!(file_args(&file, &cmd(), &given).unwrap_err().to_string().contains("must be a string"));
        std::fs::write(&file, "max-students = [\"40\"]\n").unwrap();
        let err = file_args(&file, &cmd(), &given).unwrap_err().to_string();
        assert!(err.contains("'max-students' must be"), "a list only where the flag repeats: {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_file_fills_in_what_flags_left_at_their_default() {
        let dir = std::env::temp_dir().join(format!("classbook-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("classbook.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\nmax_students = 40\nunsafe-no-sandbox = false\n").unwrap();
        let given = cmd().get_matches_from(["serve", "--max-students", "30"]);
        let args = file_args(&file, &cmd(), &given).unwrap();
        assert_eq!(args, [OsString::from("--bind=0.0.0.0:9000")], "the flag beats the file; false adds nothing");

        // The environment beats the file too.
        std::env::set_var("TEST_CLASSBOOK_BIND", "127.0.0.1:7000");
        let given = cmd().get_matches_from(["serve"]);
        let args = file_args(&file, &cmd(), &given).unwrap();
        std::env::remove_var("TEST_CLASSBOOK_BIND");
        assert_eq!(args, [OsString::from("--max-students=40")], "bind came from the environment");
        let given = cmd().get_matches_from(["serve"]);

        std::fs::write(&file, "colour = 3\n").unwrap();
        let err = file_args(&file, &cmd(), &given).unwrap_err().to_string();
        assert!(err.contains("unknown setting 'colour'") && err.contains("classbook.toml"), "{err}");
        std::fs::write(&file, "bind = [1]\n").unwrap();
        assert!(file_args(&file, &cmd(), &given).unwrap_err().to_string().contains("'bind' must be"));
        std::fs::write(&file, "bind = \n").unwrap();
        assert!(file_args(&file, &cmd(), &given).unwrap_err().to_string().contains("classbook.toml"));
    }
}
