//! Properties of `n` / `last` pagination: a page is exactly the names after `last`, at most
//! `n` of them, and following `next_last` visits every name once, in order.

use proptest::prelude::*;

use super::paginate;

fn sorted_names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-c]{1,3}(/[a-c]{1,2})?", 0..30)
        .prop_map(|set| set.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_page_is_the_names_after_last_up_to_n(
        names in sorted_names(),
        n in proptest::option::of(0usize..40),
        last in proptest::option::of("[a-d/]{0,4}"),
    ) {
        let page = paginate(names.clone(), n, last.as_deref());
        let after: Vec<String> = names
            .iter()
            .filter(|name| last.as_deref().is_none_or(|last| name.as_str() > last))
            .cloned()
            .collect();
        let expected: Vec<String> = after.iter().take(n.unwrap_or(usize::MAX)).cloned().collect();
        prop_assert_eq!(&page.items, &expected);
        let more = expected.len() < after.len();
        if more && n != Some(0) {
            prop_assert_eq!(page.next_last.as_ref(), expected.last());
        } else {
            prop_assert_eq!(page.next_last, None);
        }
    }

    #[test]
    fn following_next_last_visits_every_name_once(names in sorted_names(), n in 1usize..7) {
        let mut seen = Vec::new();
        let mut last: Option<String> = None;
        // One page per name at most, plus the final one: more would be a loop.
        for _ in 0..=names.len() {
            let page = paginate(names.clone(), Some(n), last.as_deref());
            prop_assert!(page.items.len() <= n);
            seen.extend(page.items);
            match page.next_last {
                Some(next) => last = Some(next),
                None => break,
            }
        }
        prop_assert_eq!(seen, names);
    }

    #[test]
    fn huge_counts_are_harmless(names in sorted_names(), n in any::<usize>()) {
        let page = paginate(names.clone(), Some(n), None);
        prop_assert_eq!(page.items.len(), names.len().min(n));
    }
}
