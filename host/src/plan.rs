//! How a GEMM of any shape is cut to fit the array and the scratchpads.
//!
//! The output is cut into blocks of `block_rows` x `cols` (one array tile
//! each); K into chunks of at most `k_chunk` steps (summed on chip with the
//! accumulate flag). A *group* of `group_m` x `group_n` blocks is what the
//! accumulators hold at once; for each group and K chunk the A panels of its
//! M blocks and the B panels of its N blocks sit side by side in the A and B
//! scratchpads, `k_chunk` entries apart. N is grouped first, so a weight
//! matrix that fits on chip is written once and reused by every group.

use npu_spec::protocol::{GemmTile, Info};

/// The hardware facts a plan needs, read from INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub a_depth: usize,
    pub b_depth: usize,
    pub acc_depth: usize,
}

impl From<&Info> for Geometry {
    fn from(i: &Info) -> Self {
        Self { rows: i.rows, cols: i.cols, a_depth: i.a_depth, b_depth: i.b_depth, acc_depth: i.acc_depth }
    }
}

/// The cut of one `m x k x n` GEMM (all three at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmPlan {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Output rows per block: the array's rows (or the accumulators' depth if smaller).
    pub block_rows: usize,
    /// Output columns per block: the array's columns.
    pub block_cols: usize,
    /// K steps per chunk.
    pub k_chunk: usize,
    /// M blocks per group.
    pub group_m: usize,
    /// N blocks per group.
    pub group_n: usize,
    /// First A and B entries the plan uses (0 unless placed [`Self::within`]
    /// a part of the scratchpads).
    pub a_base: usize,
    pub b_base: usize,
    /// Every N block's B panel has its own place (`b_base + nb * k_chunk`),
    /// written once: groups then take one N block and as many M blocks as
    /// the accumulators hold, N block after N block (see [`Self::by_block`]).
    pub b_by_block: bool,
    /// Every M block's A panel has its own place (`a_base + mb * k_chunk`),
    /// written once (see [`Self::resident`]).
    pub a_by_block: bool,
}

impl GemmPlan {
    pub fn new(g: Geometry, m: usize, k: usize, n: usize) -> Self {
        assert!(m > 0 && k > 0 && n > 0, "a plan needs a non-empty GEMM");
        let block_rows = g.rows.min(g.acc_depth);
        let k_chunk = k.min(g.a_depth).min(g.b_depth).min(usize::from(u16::MAX));
        let m_blocks = m.div_ceil(block_rows);
        let n_blocks = n.div_ceil(g.cols);
        let group_n = n_blocks.min(g.b_depth / k_chunk).min(g.acc_depth / block_rows).max(1);
        let group_m = m_blocks.min(g.a_depth / k_chunk).min(g.acc_depth / (block_rows * group_n)).max(1);
        Self { m, k, n, block_rows, block_cols: g.cols, k_chunk, group_m, group_n, a_base: 0, b_base: 0, b_by_block: false, a_by_block: false }
    }

    /// The plan in the A entries `a` and the B entries `b` alone, so that
    /// what lies around them (another layer's weights or input) stays.
    pub fn within(g: Geometry, m: usize, k: usize, n: usize, a: std::ops::Range<usize>, b: std::ops::Range<usize>) -> Self {
        let part = Geometry { a_depth: a.len(), b_depth: b.len(), ..g };
        Self { a_base: a.start, b_base: b.start, ..Self::new(part, m, k, n) }
    }

    pub fn m_blocks(&self) -> usize {
        self.m.div_ceil(self.block_rows)
    }

    pub fn n_blocks(&self) -> usize {
        self.n.div_ceil(self.block_cols)
    }

    /// The K chunks: (first step, steps).
    pub fn k_chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.k).step_by(self.k_chunk).map(|k0| (k0, self.k_chunk.min(self.k - k0)))
    }

    /// The groups, in order: (M blocks, N blocks).
    pub fn groups(&self) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let (mb, nb) = (self.m_blocks(), self.n_blocks());
        let mut out = vec![];
        if self.b_by_block {
            for n0 in 0..nb {
                for m0 in (0..mb).step_by(self.group_m) {
                    out.push((m0..(m0 + self.group_m).min(mb), n0..n0 + 1));
                }
            }
            return out;
        }
        for m0 in (0..mb).step_by(self.group_m) {
            for n0 in (0..nb).step_by(self.group_n) {
                out.push((m0..(m0 + self.group_m).min(mb), n0..(n0 + self.group_n).min(nb)));
            }
        }
        out
    }

    /// Output rows of M block `b`.
    pub fn rows_of(&self, b: usize) -> usize {
        self.block_rows.min(self.m - b * self.block_rows)
    }

    /// Output columns of N block `b`.
    pub fn cols_of(&self, b: usize) -> usize {
        self.block_cols.min(self.n - b * self.block_cols)
    }

    /// First A entry of the panel in group slot `slot`.
    pub fn a_entry(&self, slot: usize) -> usize {
        self.a_base + slot * self.k_chunk
    }

    /// First B entry of the panel in group slot `slot`.
    pub fn b_entry(&self, slot: usize) -> usize {
        self.b_base + slot * self.k_chunk
    }

    /// The same plan with every B panel in its own place when B's part
    /// (`b_entries`) holds them all and K is one chunk (weights kept on
    /// chip): a group is then one N block and as many M blocks as A's part
    /// and the accumulators hold. When the accumulators are what limits a
    /// group, that is fewer REQUANTs (one a group and N block), and the
    /// bias changes only with the N block. For an A built on chip: an A the
    /// host writes would cross the link once an N block.
    pub fn by_block(self, g: Geometry, a_entries: usize, b_entries: usize) -> Self {
        if self.k_chunk != self.k || b_entries < self.n_blocks() * self.k {
            return self;
        }
        let group_m = self.m_blocks().min(a_entries / self.k).min(g.acc_depth / self.block_rows).max(1);
        Self { group_m, group_n: 1, b_by_block: true, ..self }
    }

    /// The same plan with both operands kept on chip whole, when A and B
    /// hold them and K is one chunk: each panel written once, in its own
    /// place, and the groups as [`Self::by_block`] makes them.
    pub fn resident(self, g: Geometry) -> Self {
        if self.k_chunk != self.k || self.m_blocks() * self.k > g.a_depth || self.n_blocks() * self.k > g.b_depth {
            return self;
        }
        Self { a_by_block: true, ..self.by_block(g, g.a_depth, g.b_depth) }
    }

    /// The plan of a convolution by taps (see [`crate::tap_map`]): `m`
    /// output pixels in M blocks of the map's `tile` pixels, K one chunk,
    /// every N block's panel in its own place from `b.start` on (the
    /// weights kept), a group one N block and as many tiles as the
    /// accumulators hold. `None` when the panels do not fit `b`.
    pub fn taps(g: Geometry, m: usize, k: usize, n: usize, tile: usize, b: std::ops::Range<usize>) -> Option<Self> {
        if m == 0 || k == 0 || n == 0 || tile == 0 || tile > g.rows.min(g.acc_depth) || !m.is_multiple_of(tile) || k > usize::from(u16::MAX) || b.len() < n.div_ceil(g.cols) * k {
            return None;
        }
        let group_m = (m / tile).min(g.acc_depth / tile);
        Some(Self { m, k, n, block_rows: tile, block_cols: g.cols, k_chunk: k, group_m, group_n: 1, a_base: 0, b_base: b.start, b_by_block: true, a_by_block: false })
    }

    /// First B entry of N block `nb`'s panel, in group slot `slot`.
    pub fn b_panel(&self, slot: usize, nb: usize) -> usize {
        if self.b_by_block {
            self.b_base + nb * self.k_chunk
        } else {
            self.b_entry(slot)
        }
    }

    /// The GEMM commands of one K chunk (`chunk`-th, `kl` steps) of the group
    /// (`ms`, `ns`). A command runs tiles back to back along the group's
    /// longer side (its drains overlap the next tile, and every command costs
    /// a frame on the link): along N, one command per M block stepping the B
    /// panels; along M, one per N block stepping the A panels. A short last
    /// block (fewer rows or columns) gets a command of its own.
    pub fn chunk_tiles(&self, ms: std::ops::Range<usize>, ns: std::ops::Range<usize>, chunk: usize, kl: usize) -> Vec<GemmTile> {
        let along_n = ns.len() > ms.len();
        let (outer, inner) = if along_n { (ms.clone(), ns.clone()) } else { (ns.clone(), ms.clone()) };
        let inner_size = |b: usize| if along_n { self.cols_of(b) } else { self.rows_of(b) };
        let inner_full = if along_n { self.block_cols } else { self.block_rows };
        let mut out = vec![];
        for (outer_slot, ob) in outer.enumerate() {
            let full = inner.clone().filter(|&b| inner_size(b) == inner_full).count();
            let mut runs = vec![(0, full, inner_full)];
            if full < inner.len() {
                runs.push((full, 1, inner_size(inner.end - 1)));
            }
            for (inner_slot, tiles, size) in runs.into_iter().filter(|r| r.1 > 0) {
                let (m_slot, n_slot) = if along_n { (outer_slot, inner_slot) } else { (inner_slot, outer_slot) };
                let (m, n) = if along_n { (self.rows_of(ob), size) } else { (size, self.cols_of(ob)) };
                out.push(GemmTile {
                    a_entry: self.a_entry(m_slot) as u16,
                    b_entry: self.b_panel(n_slot, ns.start + n_slot) as u16,
                    acc_entry: self.acc_entry(m_slot, n_slot) as u16,
                    m: m as u8,
                    n: n as u8,
                    k: kl as u16,
                    accumulate: chunk > 0,
                    tiles: tiles as u16,
                    a_step: if along_n { 0 } else { self.k_chunk as u16 },
                    b_step: if along_n { self.k_chunk as u16 } else { 0 },
                    acc_step: if along_n { self.group_m * self.block_rows } else { self.block_rows } as u16,
                });
            }
        }
        out
    }

    /// Every GEMM command of the whole plan, in the order the driver sends
    /// them (between its WRITEs and READs).
    pub fn all_tiles(&self) -> Vec<GemmTile> {
        let mut out = vec![];
        for (ms, ns) in self.groups() {
            for (chunk, (_, kl)) in self.k_chunks().enumerate() {
                out.extend(self.chunk_tiles(ms.clone(), ns.clone(), chunk, kl));
            }
        }
        out
    }

    /// Accumulator entry of row 0 of the block in slots (`m_slot`, `n_slot`):
    /// an N block's rows are contiguous, so one REQUANT (with that block's
    /// bias) and one READ cover them.
    pub fn acc_entry(&self, m_slot: usize, n_slot: usize) -> usize {
        (n_slot * self.group_m + m_slot) * self.block_rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geometry = Geometry { rows: 4, cols: 4, a_depth: 512, b_depth: 512, acc_depth: 256 };

    #[test]
    fn small_gemm_is_one_group_of_one_chunk() {
        let p = GemmPlan::new(G, 1, 1, 1);
        assert_eq!((p.k_chunk, p.group_m, p.group_n), (1, 1, 1));
        assert_eq!(p.groups().len(), 1);
        assert_eq!(p.k_chunks().collect::<Vec<_>>(), vec![(0, 1)]);
    }

    #[test]
    fn weights_of_an_mlp_layer_stay_on_chip() {
        // 1797 x 64 times 64 x 32: all 8 N blocks of B fit (8 * 64 <= 512).
        let p = GemmPlan::new(G, 1797, 64, 32);
        assert_eq!(p.group_n, 8);
        assert!(p.groups().iter().all(|(_, n)| *n == (0..8)));
    }

    #[test]
    fn long_k_is_chunked_and_everything_fits() {
        for (m, k, n) in [(37, 2000, 41), (5, 513, 3), (300, 64, 300), (1, 70_000, 1)] {
            let p = GemmPlan::new(G, m, k, n);
            assert!(p.k_chunk <= 512);
            assert_eq!(p.k_chunks().map(|c| c.1).sum::<usize>(), k);
            assert!(p.group_m * p.k_chunk <= G.a_depth);
            assert!(p.group_n * p.k_chunk <= G.b_depth);
            assert!(p.group_m * p.group_n * p.block_rows <= G.acc_depth);
            let blocks: usize = p.groups().iter().map(|(a, b)| a.len() * b.len()).sum();
            assert_eq!(blocks, p.m_blocks() * p.n_blocks());
        }
    }

    #[test]
    fn commands_run_along_the_longer_side_and_cover_every_block_once() {
        for (m, k, n) in [(64, 64, 64), (256, 256, 256), (37, 29, 41), (9, 5, 70), (70, 5, 9), (1, 3, 1)] {
            let p = GemmPlan::new(G, m, k, n);
            for (ms, ns) in p.groups() {
                let tiles = p.chunk_tiles(ms.clone(), ns.clone(), 0, p.k_chunk);
                // Every (M block, N block) of the group in exactly one tile, with its size and entries.
                let mut seen = vec![];
                for t in &tiles {
                    for i in 0..usize::from(t.tiles) {
                        let acc = usize::from(t.acc_entry) + i * usize::from(t.acc_step);
                        let (n_slot, m_slot) = (acc / p.block_rows / p.group_m, acc / p.block_rows % p.group_m);
                        let (mb, nb) = (ms.start + m_slot, ns.start + n_slot);
                        assert_eq!((usize::from(t.m), usize::from(t.n)), (p.rows_of(mb), p.cols_of(nb)));
                        assert_eq!(usize::from(t.a_entry) + i * usize::from(t.a_step), p.a_entry(m_slot));
                        assert_eq!(usize::from(t.b_entry) + i * usize::from(t.b_step), p.b_panel(n_slot, nb));
                        seen.push((mb, nb));
                    }
                }
                seen.sort();
                let want: Vec<_> = ms.clone().flat_map(|mb| ns.clone().map(move |nb| (mb, nb))).collect();
                assert_eq!(seen, want, "{m}x{k}x{n}");
                // At most two commands per block of the shorter side.
                assert!(tiles.len() <= 2 * ms.len().min(ns.len()), "{m}x{k}x{n}: {} commands", tiles.len());
            }
        }
    }

    #[test]
    fn a_plan_within_part_of_the_scratchpads_stays_in_it() {
        let p = GemmPlan::within(G, 9, 100, 9, 300..500, 20..420);
        assert_eq!((p.k_chunk, p.group_m, p.group_n), (100, 2, 3));
        for t in p.all_tiles() {
            let last = |first: u16, step: u16| usize::from(first) + (usize::from(t.tiles) - 1) * usize::from(step) + usize::from(t.k);
            assert!(usize::from(t.a_entry) >= 300 && last(t.a_entry, t.a_step) <= 500);
            assert!(usize::from(t.b_entry) >= 20 && last(t.b_entry, t.b_step) <= 420);
        }
    }

    #[test]
    fn panels_by_block_take_fewer_groups_and_each_its_own_place() {
        let whole = GemmPlan::within(G, 100, 50, 16, 0..512, 100..300);
        assert_eq!((whole.group_m, whole.group_n, whole.groups().len()), (10, 4, 3));
        let p = whole.by_block(G, 512, 200);
        assert_eq!((p.group_m, p.group_n, p.groups().len()), (10, 1, 12));
        // 4 N blocks' panels of 50 from entry 100; N block after N block.
        assert_eq!(p.groups()[3], (0..10, 1..2));
        for (ms, ns) in p.groups() {
            for t in p.chunk_tiles(ms, ns.clone(), 0, 50) {
                assert_eq!(usize::from(t.b_entry), 100 + ns.start * 50);
            }
        }
        // Too little B for every panel: unchanged.
        assert_eq!(whole.by_block(G, 512, 199), whole);
    }

    #[test]
    fn operands_that_fit_are_kept_whole() {
        // 40 M blocks and 8 N blocks of K = 12: both fit, each panel once.
        let p = GemmPlan::new(G, 160, 12, 32).resident(G);
        assert!(p.a_by_block && p.b_by_block);
        assert_eq!((p.group_m, p.group_n, p.groups().len()), (40, 1, 8));
        // Too much A (50 x 12 > 512 entries): as it was.
        let q = GemmPlan::new(G, 200, 12, 32);
        assert_eq!(q.resident(G), q);
    }

    #[test]
    fn accumulators_shallower_than_the_array() {
        let g = Geometry { rows: 32, cols: 32, a_depth: 16, b_depth: 16, acc_depth: 16 };
        let p = GemmPlan::new(g, 40, 40, 40);
        assert_eq!(p.block_rows, 16);
        assert_eq!((p.group_m, p.group_n), (1, 1));
    }
}
