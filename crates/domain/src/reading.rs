//! Each reader's own order of a study's images, fixed by the study's recorded seed and the
//! reader's name, so that a methods section can state it and anyone can reproduce it.

/// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit input.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of the reader's name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The reader's order of `image_ids`: a permutation that depends only on the seed, the
/// reader's name and the ids (not on the order they are given in). Different readers get
/// independent orders; an image added later falls into place without moving the others
/// relative to each other.
pub fn reading_order(seed: u64, reader: &str, image_ids: &[i64]) -> Vec<i64> {
    let key = mix(seed ^ mix(name_hash(reader)));
    let mut keyed: Vec<(u64, i64)> = image_ids
        .iter()
        .map(|&id| (mix(key ^ mix(id as u64)), id))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reader_has_a_reproducible_order_of_their_own() {
        let ids: Vec<i64> = (1..=40).collect();
        let a = reading_order(7, "dr.jones", &ids);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "a permutation");
        assert_ne!(a, ids, "not the upload order");
        let mut reversed = ids.clone();
        reversed.reverse();
        assert_eq!(reading_order(7, "dr.jones", &reversed), a, "reproducible");
        assert_ne!(reading_order(7, "dr.smith", &ids), a, "another reader");
        assert_ne!(reading_order(8, "dr.jones", &ids), a, "another seed");
        // An image added later keeps the others' relative order.
        let more: Vec<i64> = (1..=41).collect();
        let b: Vec<i64> = reading_order(7, "dr.jones", &more)
            .into_iter()
            .filter(|&i| i != 41)
            .collect();
        assert_eq!(b, a);
    }
}
