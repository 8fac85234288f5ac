use super::*;

fn from(start: u64, end: Option<u64>) -> ByteRange {
    ByteRange::From { start, end }
}

fn r(start: u64, end: u64) -> ByteRange {
    from(start, Some(end))
}

#[test]
fn resolves_ranges() {
    assert_eq!(from(0, None).resolve(10), Some((0, 9)));
    assert_eq!(from(2, Some(4)).resolve(10), Some((2, 4)));
    assert_eq!(from(2, Some(40)).resolve(10), Some((2, 9)));
    assert_eq!(from(10, None).resolve(10), None);
    assert_eq!(from(5, Some(4)).resolve(10), None);
    assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 9)));
    assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
    assert_eq!(ByteRange::Suffix(0).resolve(10), None);
    assert_eq!(from(0, None).resolve(0), None);
}

#[test]
fn no_range_is_the_whole_blob_and_one_range_is_single() {
    assert_eq!(plan(&[], 10), RangePlan::Whole(None));
    assert_eq!(plan(&[r(2, 4)], 10), RangePlan::Single((2, 4)));
    assert_eq!(plan(&[r(20, 40)], 10), RangePlan::Unsatisfiable);
}

#[test]
fn several_ranges_keep_their_order() {
    assert_eq!(
        plan(&[r(50, 59), r(0, 9), ByteRange::Suffix(5)], 100),
        RangePlan::Multi(vec![(50, 59), (0, 9), (95, 99)])
    );
}

#[test]
fn unsatisfiable_ranges_are_dropped() {
    assert_eq!(
        plan(&[r(0, 9), r(200, 300), from(90, None)], 100),
        RangePlan::Multi(vec![(0, 9), (90, 99)])
    );
    assert_eq!(
        plan(&[r(0, 9), r(200, 300)], 100),
        RangePlan::Single((0, 9))
    );
    assert_eq!(
        plan(&[r(100, 101), ByteRange::Suffix(0)], 100),
        RangePlan::Unsatisfiable
    );
}

#[test]
fn overlapping_and_adjacent_ranges_stay_apart() {
    assert_eq!(
        plan(&[r(0, 9), r(10, 19)], 100),
        RangePlan::Multi(vec![(0, 9), (10, 19)])
    );
    assert_eq!(
        plan(&[r(0, 9), r(5, 30), r(5, 30)], 100),
        RangePlan::Multi(vec![(0, 9), (5, 30), (5, 30)])
    );
}

#[test]
fn abusive_sets_are_served_whole() {
    let many: Vec<ByteRange> = (0..=MAX_RANGES as u64).map(|i| r(i * 2, i * 2)).collect();
    assert_eq!(
        plan(&many, 1 << 20),
        RangePlan::Whole(Some(Ignored::TooMany))
    );
    let at_cap = &many[..MAX_RANGES];
    assert!(matches!(plan(at_cap, 1 << 20), RangePlan::Multi(p) if p.len() == MAX_RANGES));

    let overlapping = [
        r(0, 50),
        r(60, 70),
        r(10, 20),
        r(80, 90),
        r(30, 40),
        r(5, 6),
    ];
    assert_eq!(
        plan(&overlapping, 1000),
        RangePlan::Whole(Some(Ignored::Overlapping))
    );
    assert_eq!(
        plan(&[r(0, 80), r(90, 95), r(10, 70)], 100),
        RangePlan::Whole(Some(Ignored::MoreThanTheBlob))
    );
    let descending: Vec<ByteRange> = (0..=MAX_UNORDERED as u64)
        .rev()
        .map(|i| r(i * 10, i * 10))
        .collect();
    assert_eq!(
        plan(&descending, 1000),
        RangePlan::Whole(Some(Ignored::Unordered))
    );
    let ascending: Vec<ByteRange> = (0..=MAX_UNORDERED as u64)
        .map(|i| r(i * 10, i * 10))
        .collect();
    assert!(matches!(plan(&ascending, 1000), RangePlan::Multi(_)));
}

#[test]
fn ranges_at_the_edges_of_u64_do_not_overflow() {
    assert_eq!(
        plan(&[r(0, u64::MAX), from(u64::MAX, None)], 10),
        RangePlan::Single((0, 9))
    );
    assert_eq!(
        plan(&[r(9, u64::MAX), r(0, 0)], 10),
        RangePlan::Multi(vec![(9, 9), (0, 0)])
    );
    assert_eq!(
        plan(&[r(u64::MAX - 1, u64::MAX), r(0, 0)], u64::MAX),
        RangePlan::Multi(vec![(u64::MAX - 1, u64::MAX - 1), (0, 0)])
    );
}
