//! POSIX shell quoting: every argument the harness sends to a remote shell goes through here.
//!
//! SSH runs a command line through the remote user's shell, so an argv must be turned into one
//! string whose words the shell splits back into exactly that argv. Single quotes are the only
//! quoting with no special characters inside, so each word is wrapped in them and any `'` is
//! written as `'\''`. Words made only of characters no shell treats specially stay bare, which
//! keeps logged commands readable.

/// Quotes one word for a POSIX shell: `sh -c "echo $(shell_quote(s))"` prints `s` verbatim.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b',' | b'=' | b'@' | b'+' | b'%'
                )
        });
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word of an argv and joins them with spaces: one command line for `sh -c`.
pub fn shell_join(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(shell_quote("n1"), "n1");
        assert_eq!(shell_quote("/var/lib/etcd"), "/var/lib/etcd");
    }

    #[test]
    fn special_words_are_quoted() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The shell gives back exactly the words that were quoted, whatever they contain.
        #[test]
        fn sh_reads_back_the_quoted_words(words in proptest::collection::vec("[ -~\t\n]{0,12}", 1..4)) {
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let script = format!("printf '%s\\0' {}", shell_join(&refs));
            let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
            proptest::prop_assert!(out.status.success(), "{}", script);
            let got: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .split_terminator('\0')
                .map(String::from)
                .collect();
            proptest::prop_assert_eq!(got, words);
        }
    }

    #[test]
    fn join_quotes_each_word() {
        assert_eq!(shell_join(&["echo", "a b", "c"]), "echo 'a b' c");
    }
}
