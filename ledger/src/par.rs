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

/// Runs `serial` on the calling thread while the other cores work through `items` with `f`;
/// once `serial` returns, the calling thread takes its share of what is left. Gives the results
/// of `f` in the order of `items`, and what `serial` returned. Verification uses it to check
/// one chunk's signatures and decode the next chunk while it folds the current one.
///
/// # Examples
///
/// ```
/// let items: Vec<u64> = (0..1000).collect();
/// let (squares, sum) = ledger::par::overlap(&items, |x| x * x, || items.iter().sum::<u64>());
/// assert_eq!(squares[999], 998_001);
/// assert_eq!(sum, 499_500);
/// ```
pub fn overlap<T: Sync, R: Send, S>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    serial: impl FnOnce() -> S,
) -> (Vec<R>, S) {
    overlap_owned(items.iter().collect(), f, serial)
}

/// Like [`overlap`], but takes the items by value: `f` consumes each, and what it leaves is
/// dropped on the thread that ran it rather than by the caller.
///
/// # Examples
///
/// ```
/// let items: Vec<String> = (0..100).map(|i| i.to_string()).collect();
/// let (lens, n) = ledger::par::overlap_owned(items, |s| s.len(), || 7);
/// assert_eq!((lens[99], n), (2, 7));
/// ```
pub fn overlap_owned<T: Send, R: Send, S>(
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
    serial: impl FnOnce() -> S,
) -> (Vec<R>, S) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    /// Items taken at a time: small enough that the threads finish together, large enough
    /// that taking them costs nothing.
    const BLOCK: usize = 16;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 2 * BLOCK {
        let s = serial();
        return (items.into_iter().map(&f).collect(), s);
    }
    let mut rest = items.into_iter();
    let inputs: Vec<Mutex<Vec<T>>> = std::iter::from_fn(|| {
        let block: Vec<T> = rest.by_ref().take(BLOCK).collect();
        (!block.is_empty()).then(|| Mutex::new(block))
    })
    .collect();
    let slots: Vec<Mutex<Vec<R>>> = inputs.iter().map(|_| Mutex::new(Vec::new())).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let b = next.fetch_add(1, Ordering::Relaxed);
        if b >= inputs.len() {
            break;
        }
        let block = std::mem::take(&mut *inputs[b].lock().expect("no holder panics"));
        let out: Vec<R> = block.into_iter().map(&f).collect();
        *slots[b].lock().expect("no holder panics") = out;
    };
    let s = std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        let s = serial();
        work();
        s
    });
    (slots.into_iter().flat_map(|m| m.into_inner().expect("no holder panics")).collect(), s)
}
