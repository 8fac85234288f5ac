//! Percent-encoding (RFC 3986) of the path segments and query values the API uses.

/// Decodes `%XX` escapes. Anything else, including a `%` not followed by two hex digits, is
/// kept as it is; bytes that do not form UTF-8 become U+FFFD (and then fail validation).
///
/// `+` stays `+`: no value of this API (digests, names, tags, counts, media types) can hold a
/// space, while media types such as `application/spdx+json` hold `+` and clients type them
/// unencoded.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if escape {
            out.push((hex_value(bytes[i + 1]) << 4) | hex_value(bytes[i + 2]));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Encodes a query value: everything but RFC 3986's unreserved characters.
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_only() {
        assert_eq!(decode("sha256%3Aab"), "sha256:ab");
        assert_eq!(decode("a%2fb%2Fc"), "a/b/c");
        assert_eq!(decode("%2e%2E"), "..");
        assert_eq!(decode("a+b"), "a+b");
        for kept in ["%+1", "%4", "100%", "%zz", "%"] {
            assert_eq!(decode(kept), kept);
        }
        assert_eq!(decode("caf%C3%A9"), "café");
        assert_eq!(decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query_value("a/b:c"), "a%2Fb%3Ac");
        assert_eq!(encode_query_value("v1.0_x-y~z"), "v1.0_x-y~z");
        assert_eq!(decode(&encode_query_value("a b/c:d+e")), "a b/c:d+e");
    }
}
