//! The host's copy of what it wrote into a bank, so operands already on chip
//! are not sent again (a weight matrix shared by many GEMMs, the bias of a
//! layer): only the runs of entries that differ go over the link.

/// One bank's entries as last written by this host; `None` where unknown.
#[derive(Debug, Clone)]
pub struct BankShadow {
    entry_bytes: usize,
    entries: Vec<Option<Box<[u8]>>>,
}

/// Entries to send: (first entry, their bytes).
pub type Run = (usize, Vec<u8>);

impl BankShadow {
    pub fn new(depth: usize, entry_bytes: usize) -> Self {
        Self { entry_bytes, entries: vec![None; depth] }
    }

    /// The runs of `data` (whole entries from `first` on) that the bank does
    /// not already hold, each at most `max_entries` long. Runs separated by a
    /// few equal entries are merged: a frame costs 9 bytes of its own.
    pub fn runs(&self, first: usize, data: &[u8], max_entries: usize) -> Vec<Run> {
        let eb = self.entry_bytes;
        assert_eq!(data.len() % eb, 0, "whole entries only");
        let count = data.len() / eb;
        let differs: Vec<bool> = (0..count).map(|e| self.entries[first + e].as_deref() != Some(&data[e * eb..(e + 1) * eb])).collect();
        let gap_worth_bridging = 9usize.div_ceil(eb);
        let mut runs: Vec<(usize, usize)> = vec![];
        for (e, &d) in differs.iter().enumerate() {
            if !d {
                continue;
            }
            match runs.last_mut() {
                Some((start, end)) if e - *end <= gap_worth_bridging && e + 1 - *start <= max_entries => *end = e + 1,
                _ => runs.push((e, e + 1)),
            }
        }
        runs.into_iter().map(|(s, e)| (first + s, data[s * eb..e * eb].to_vec())).collect()
    }

    /// Records that the bank now holds `data` from entry `first` on.
    pub fn wrote(&mut self, first: usize, data: &[u8]) {
        for (e, chunk) in data.chunks(self.entry_bytes).enumerate() {
            self.entries[first + e] = Some(chunk.into());
        }
    }

    /// Forgets entries `first..first + count` (written on chip by a MOVE).
    pub fn forget_range(&mut self, first: usize, count: usize) {
        let end = (first + count).min(self.entries.len());
        self.entries[first.min(end)..end].iter_mut().for_each(|e| *e = None);
    }

    /// Forgets everything (after a failed command the device's state is unknown).
    pub fn forget(&mut self) {
        self.entries.iter_mut().for_each(|e| *e = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_entries_are_sent() {
        let mut s = BankShadow::new(16, 2);
        let data: Vec<u8> = (0..16).collect();
        assert_eq!(s.runs(0, &data, 100), vec![(0, data.clone())]);
        s.wrote(0, &data);
        assert!(s.runs(0, &data, 100).is_empty());
        let mut changed = data.clone();
        changed[0] = 99; // entry 0
        changed[14] = 99; // entry 7
        let runs = s.runs(0, &changed, 100);
        assert_eq!(runs, vec![(0, vec![99, 1]), (7, vec![99, 15])]);
    }

    #[test]
    fn runs_respect_the_frame_limit_and_bridge_small_gaps() {
        let s = BankShadow::new(64, 1);
        let runs = s.runs(3, &[7u8; 25], 10);
        assert_eq!(runs.iter().map(|r| (r.0, r.1.len())).collect::<Vec<_>>(), vec![(3, 10), (13, 10), (23, 5)]);
        let mut s = BankShadow::new(64, 4);
        s.wrote(0, &[1u8; 16]);
        // Entries 0 and 2 differ, 1 is equal: one run (a frame's head costs more than 4 bytes).
        let mut d = vec![1u8; 16];
        d[0] = 2;
        d[8] = 2;
        assert_eq!(s.runs(0, &d, 100).len(), 1);
    }
}
