#!/usr/bin/env python3
"""Every endpoint's slack, from the SDF that nextpnr writes with --sdf.

nextpnr reports only the slowest path of a clock; this walks every arc of
the routed design (cell arcs, clock-to-output arcs, interconnect) and gives
each register or memory input its latest arrival, so that all the endpoints
short of a clock can be seen at once, grouped by the block their cell's name
starts with. Its worst slack equals nextpnr's fmax (checked on the iCE40 4x4
and the ECP5 16x16). One clock, no skew: what nextpnr's own report assumes
for a design on one global clock.

usage: scripts/sdf_slack.py FILE.sdf PERIOD_NS [NAME_DEPTH] [GROUPS] [TRACE]
  NAME_DEPTH  dotted name parts that make a group (default 3)
  GROUPS      groups listed, worst first (default 40)
  TRACE       also print the worst path into an endpoint whose name holds this

example (the 16x16's endpoints at 100 MHz, then the path into the A memory;
npu synth writes DIR/npu.sdf):
  npu synth --board ulx3s --config configs/ulx3s-16x16.toml --out build/u16
  scripts/sdf_slack.py build/u16/npu.sdf 10 3 40 core.a_mem
"""
import re, sys, collections
sys.setrecursionlimit(1000000)
text = open(sys.argv[1]).read()
period = float(sys.argv[2]) * 1000
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
top = int(sys.argv[4]) if len(sys.argv) > 4 else 40
def un(s): return s.replace('\\', '')
def dval(s):  # (a:b:c) -> max
    return max(float(x) for x in s.strip('()').split(':') if x != '')
inter = collections.defaultdict(list)   # sink pin -> [(driver pin, delay)]
arcs = collections.defaultdict(list)    # output pin -> [(input pin, delay)]
clk2q = {}                              # output pin -> delay
setup = {}                              # input pin -> setup
for chunk in text.split('\n  (CELL')[1:]:
    cell = re.match(r'\s+\(CELLTYPE\s+"[^"]*"\)\s+\(INSTANCE\s*([^)]*)\)(.*)', chunk, re.S)
    inst, body = un(cell.group(1).strip()), cell.group(2)
    for m in re.finditer(r'\(INTERCONNECT\s+(\S+)\s+(\S+)\s+(\([^)]*\))', body):
        inter[un(m.group(2))].append((un(m.group(1)), dval(m.group(3))))
    clocks = set(re.findall(r'\((?:SETUPHOLD|SETUP)\s+\((?:posedge|negedge)\s+\S+\)\s+\((?:posedge|negedge)\s+(\S+?)\)', body))
    for m in re.finditer(r'\(IOPATH\s+(\((?:posedge|negedge)\s+\S+?\)|\S+)\s+(\S+)\s+(\([^)]*\))', body):
        src = m.group(1).strip('()').split()[-1]
        dst = inst + '/' + m.group(2)
        d = dval(m.group(3))
        if src in clocks or src.endswith('CLK') or src.startswith('CLK'):
            clk2q[dst] = max(clk2q.get(dst, 0), d)
        else:
            arcs[dst].append((inst + '/' + src, d))
    for m in re.finditer(r'\((?:SETUPHOLD|SETUP)\s+\((?:posedge|negedge)\s+(\S+?)\)\s+\((?:posedge|negedge)\s+\S+?\)\s+(\([^)]*\))', body):
        p = inst + '/' + m.group(1)
        setup[p] = max(setup.get(p, 0), dval(m.group(2)))
memo = {}
def arrival(pin):
    if pin in memo: return memo[pin]
    memo[pin] = (float('-inf'), None)  # loop guard
    best = (float('-inf'), None)
    if pin in clk2q: best = (clk2q[pin], None)
    for (p, d) in arcs.get(pin, []):
        a = arrival(p)[0] + d
        if a > best[0]: best = (a, p)
    for (p, d) in inter.get(pin, []):
        a = arrival(p)[0] + d
        if a > best[0]: best = (a, p)
    memo[pin] = best
    return best
ends = []
for p, s in setup.items():
    a = arrival(p)[0]
    if a > float('-inf'): ends.append((period - a - s, p))
ends.sort()
fail = [e for e in ends if e[0] < 0]
print(f'endpoints {len(ends)}, failing {len(fail)}, worst slack {ends[0][0]/1000:.2f} ns -> fmax {1e6/(period-ends[0][0]):.2f} MHz')
def block(pin):
    inst = pin.split('/')[0]
    return '.'.join(re.split(r'_(?:TRELLIS|SB|LUT4|CCU2C|DP16KD|MULT18X18D|PFUMX|L6MUX21)', inst)[0].split('.')[:depth])
groups = collections.Counter(); worst = {}
for s, p in fail:
    b = block(p); groups[b] += 1; worst[b] = min(worst.get(b, 0), s)
for b, n in sorted(groups.items(), key=lambda kv: worst[kv[0]])[:top]:
    print(f'{worst[b]/1000:7.2f} ns {n:6d} endpoints  {b}')
if len(sys.argv) > 5:
    # trace the worst path into a given block
    want = sys.argv[5]
    for s, p in ends:
        if want in p:
            print('path to', p, s/1000)
            q = p
            while q:
                a, prev = memo.get(q, (0, None))
                print(f'   {a/1000:7.2f}  {q[:150]}')
                q = prev
            break
