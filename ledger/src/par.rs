//! A small data-parallel map over the machine's cores (scoped threads, order kept), used by
//! verification and by projection rebuilds to decode events while folding stays sequential.

/// Runs `f` over `items` on every core, keeping order. Small inputs run on the calling thread.
///
/// # Examples
///
/// ```
/// let squares = ledger::par::par_map(&(0..1000).collect::<Vec<u64>>(), |x| x * x);
/// assert_eq!(squares[999], 998_001);
/// ```
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(per).map(|chunk| s.spawn(|| chunk.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread panicked")).collect()
    })
}

/// Like [`par_map`], but takes the items by value (no copies of large items).
///
/// # Examples
///
/// ```
/// let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
/// let lens = ledger::par::par_map_owned(v, |s| s.len());
/// assert_eq!(lens[5], 1);
/// assert_eq!(lens[99], 2);
/// assert_eq!(lens.len(), 100);
/// ```
pub fn par_map_owned<T: Send, R: Send>(mut items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 64 {
        return items.into_iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while items.len() > per {
        let tail = items.split_off(items.len() - per);
        parts.push(tail);
    }
    parts.push(items);
    parts.reverse();
    std::thread::scope(|s| {
        let handles: Vec<_> =
            parts.into_iter().map(|part| s.spawn(|| part.into_iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread panicked")).collect()
    })
}
