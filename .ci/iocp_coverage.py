#!/usr/bin/env python3
"""How many conformance cases that pass on epoll also pass on iocp.

  go test -count=1 -v . > linux.log        # on Linux
  bash .ci/wine.sh -v > wine.log           # the same tree under wine
  python3 .ci/iocp_coverage.py linux.log wine.log [--list]

Counts leaf subtests: every PASS line naming an epoll case that has no
deeper subtest, each matched with the same name for iocp in the wine log
(PASS, SKIP, FAIL, or ABSENT when the test is not built for Windows).
--list prints every case that does not pass on iocp.
"""
import re,sys,collections
def parse(path):
    st={}
    for line in open(path,errors='replace'):
        m=re.match(r'\s*--- (PASS|FAIL|SKIP): (\S+)',line)
        if m: st[m.group(2)]=m.group(1)
    return st
lin=parse(sys.argv[1]); win=parse(sys.argv[2])
ep=[n for n,s in lin.items() if s=='PASS' and re.search(r'/epoll(/|$)',n)]
# count only leaves: names that are not a prefix of another epoll name
leaves=[n for n in ep if not any(o!=n and o.startswith(n+'/') for o in ep)]
res=collections.Counter(); miss=collections.defaultdict(list)
for n in leaves:
    w=re.sub(r'/epoll(/|$)',r'/iocp\1',n,count=1)
    s=win.get(w)
    if s is None:
        # parent skipped?
        parts=w.split('/')
        for i in range(len(parts)-1,0,-1):
            p='/'.join(parts[:i])
            if p in win and win[p]!='PASS': s=win[p]+'(parent)'; break
    res[s or 'ABSENT']+=1; miss[s or 'ABSENT'].append(n)
print(len(leaves),'epoll-passing leaf cases'); print(dict(res))
print('pass ratio %.1f%%'%(100*res['PASS']/len(leaves)))
if '--list' in sys.argv[3:]:
    for k,v in miss.items():
        if k!='PASS':
            print('==',k); [print('  ',x) for x in sorted(v)]
