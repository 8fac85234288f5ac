//! `n` / `last` pagination of sorted name lists (tags, catalog).

/// One page of names and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    /// The last item of this page when more items follow (the next page's `last`).
    pub next_last: Option<String>,
}

/// Takes up to `n` names after `last` from `sorted` (ascending, deduplicated).
pub(crate) fn paginate(sorted: Vec<String>, n: Option<usize>, last: Option<&str>) -> Page {
    let start = match last {
        Some(last) => sorted.partition_point(|item| item.as_str() <= last),
        None => 0,
    };
    let mut rest = sorted.into_iter().skip(start);
    match n {
        None => Page {
            items: rest.collect(),
            next_last: None,
        },
        Some(n) => {
            let items: Vec<String> = rest.by_ref().take(n).collect();
            let more = rest.next().is_some();
            let next_last = if more && n > 0 {
                items.last().cloned()
            } else {
                None
            };
            Page { items, next_last }
        }
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_through_a_list() {
        let all = names(&["a", "b", "c", "d", "e"]);
        let p1 = paginate(all.clone(), Some(2), None);
        assert_eq!(p1.items, names(&["a", "b"]));
        assert_eq!(p1.next_last.as_deref(), Some("b"));
        let p2 = paginate(all.clone(), Some(2), Some("b"));
        assert_eq!(p2.items, names(&["c", "d"]));
        let p3 = paginate(all.clone(), Some(2), Some("d"));
        assert_eq!(p3.items, names(&["e"]));
        assert_eq!(p3.next_last, None);
        assert_eq!(
            paginate(all.clone(), None, Some("bb")).items,
            names(&["c", "d", "e"])
        );
        assert_eq!(
            paginate(all.clone(), Some(0), None).items,
            Vec::<String>::new()
        );
        assert_eq!(
            paginate(all, Some(10), Some("zzz")).items,
            Vec::<String>::new()
        );
    }
}
