//! resolv.conf parsing as the kubelet does it (upstream `parseResolvConf` in
//! `pkg/kubelet/network/dns/dns.go`): the kubelet builds pods' resolvers from the whole
//! [`Resolver`], the cluster DNS forwards to its [`nameservers`].

/// The resolver lines of a resolv.conf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolver {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// The last `search` (or `domain`) line's domains, without trailing dots.
    pub searches: Vec<String>,
    /// `options` of every line; a later option of the same name replaces an earlier one.
    pub options: Vec<String>,
}

/// A `nameserver` line without an address (upstream's message, trailing space included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("nameserver list is empty ")]
pub struct EmptyNameserver;

/// The lines that say something: their keyword and the fields after it (blank lines and
/// `#` comments left out).
fn directives(text: &str) -> impl Iterator<Item = (&str, std::str::SplitWhitespace<'_>)> {
    text.lines().map(str::trim).filter(|line| !line.starts_with('#')).filter_map(|line| {
        let mut fields = line.split_whitespace();
        fields.next().map(|keyword| (keyword, fields))
    })
}

/// Parses a resolv.conf: `nameserver` lines accumulate, the last `search` line wins
/// (the root domain `.` is left out, trailing dots trimmed), `options` merge by name.
/// Upstream reads no `domain` line either: neither do we.
pub fn parse(text: &str) -> Result<Resolver, EmptyNameserver> {
    let mut r = Resolver::default();
    for (keyword, mut fields) in directives(text) {
        match keyword {
            "nameserver" => r.nameservers.push(fields.next().ok_or(EmptyNameserver)?.to_string()),
            "search" => r.searches = fields.filter(|s| *s != ".").map(|s| s.strip_suffix('.').unwrap_or(s).to_string()).collect(),
            "options" => {
                for option in fields {
                    set_option(&mut r.options, option.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

/// The addresses of the `nameserver` lines, in order, as written (a line without one is
/// passed over, as a forwarder reading the file does; [`parse`] refuses it).
pub fn nameservers(text: &str) -> impl Iterator<Item = &str> {
    directives(text).filter(|(keyword, _)| *keyword == "nameserver").filter_map(|(_, mut fields)| fields.next())
}

/// The name of an option such as `ndots:5`.
fn option_name(option: &str) -> &str {
    option.split(':').next().unwrap_or(option)
}

/// Sets `option`, replacing one of the same name in place (upstream keeps a map: its
/// order is random, ours is first-seen).
pub fn set_option(options: &mut Vec<String>, option: String) {
    match options.iter_mut().find(|o| option_name(o) == option_name(&option)) {
        Some(existing) => *existing = option,
        None => options.push(option),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resolv_conf_lines() {
        /// resolv.conf text, then its nameservers, searches and options.
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            ("", &[], &[], &[]),
            (" \n\t\n", &[], &[], &[]),
            (" #comment\n#nameserver 1.1.1.1", &[], &[], &[]),
            ("#comment\nnameserver 1.2.3.4\nsearch", &["1.2.3.4"], &[], &[]),
            ("\tnameserver \t 1.2.3.4 #comment", &["1.2.3.4"], &[], &[]),
            ("nameserver 1.2.3.4\nnameserver 5.6.7.8", &["1.2.3.4", "5.6.7.8"], &[], &[]),
            ("search foo. bar", &[], &["foo", "bar"], &[]),
            ("search foo . bar", &[], &["foo", "bar"], &[]),
            ("search foo\nsearch bar", &[], &["bar"], &[]),
            ("domain foo", &[], &[], &[]),
            ("nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar", &["1.2.3.4", "5.6.7.8"], &["bar"], &[]),
            ("options ", &[], &[], &[]),
            ("options ndots:5 attempts:2", &[], &[], &["ndots:5", "attempts:2"]),
            ("options ndots:1\noptions ndots:5 attempts:3", &[], &[], &["ndots:5", "attempts:3"]),
            ("options ndots:1 edns0\noptions attempts:3 ndots:4", &[], &[], &["ndots:4", "edns0", "attempts:3"]),
        ];
        for (text, nameservers, searches, options) in cases {
            let r = parse(text).unwrap();
            assert_eq!(r, Resolver { nameservers: strings(nameservers), searches: strings(searches), options: strings(options) }, "{text:?}");
        }
        assert!(matches!(parse("#comment\nnameserver\nsearch"), Err(EmptyNameserver)));
    }

    #[test]
    fn nameservers_pass_over_lines_without_an_address() {
        let text = "# nameserver 192.0.2.9\nnameserver\n\tnameserver 192.0.2.1 # first\nsearch lan\nnameserver fe80::1%eth0\nnameserver bogus\n";
        assert_eq!(nameservers(text).collect::<Vec<_>>(), ["192.0.2.1", "fe80::1%eth0", "bogus"]);
        assert_eq!(parse(text), Err(EmptyNameserver));
    }
}
