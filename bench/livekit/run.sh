#!/bin/bash
# Reproduce livekit-server CPU-per-forwarded-copy measurements.
# Needs bin/server (livekit-server v1.13.5) and bin/lkload (see README.md).
set -u
cd "$(dirname "$0")"
HZ=$(getconf CLK_TCK)
WARM=${WARM:-5}; WIN=${WIN:-20}
OUT=${OUT:-raw.tsv}
[ -f "$OUT" ] || echo -e "room\trun\tcpu_s\twin_s\trx_pkts\trx_bytes\texpected\tprom_out_pkts\tprom_out_bytes\tus_per_copy\tcore_pct\tmbit_s\tpps\tloss_pct\tlg_cpu_pct\tloadavg_before" > "$OUT"

cputicks() { awk '{print $14+$15}' /proc/$1/stat; }
prom() { curl -s 127.0.0.1:6789/metrics | awk -v m="$1" '$0 ~ "^livekit_packet_"m"\\{.*direction=\"outgoing\"" {s+=$2} END{printf "%.0f", s}'; }
stat() { curl -s 127.0.0.1:9101/stats | python3 -c "import sys,json; d=json.load(sys.stdin); print(d['vid_pkts']+d['aud_pkts'], d['vid_bytes']+d['aud_bytes'], d['vid_expected']+d['aud_expected'], d['joined'], d['tracks'], d['ts_ns'])"; }

wait_quiet() { for i in $(seq 30); do l=$(awk '{print $1}' /proc/loadavg); awk -v l=$l 'BEGIN{exit !(l<0.5)}' && return; sleep 2; done; }

run_room() { # name pubs subs run
  local name=$1 pubs=$2 subs=$3 run=$4
  local parts=$((pubs+subs)) tracks=$(( subs*pubs*2 + pubs*(pubs-1)*2 ))
  wait_quiet
  GOMAXPROCS=1 taskset -c 0 ./bin/server --config livekit.yaml --dev --node-ip 127.0.0.1 > logs/server-$name-$run.log 2>&1 &
  local SP=$!; sleep 2
  taskset -c 1 ./bin/lkload -room $name-$run -pubs $pubs -subs $subs > logs/lkload-$name-$run.log 2>&1 &
  local LP=$!
  for i in $(seq 300); do read p b e j t ts < <(stat 2>/dev/null || echo 0 0 0 0 0 0); [ "$j" -ge "$parts" ] && [ "$t" -ge "$tracks" ] && break; sleep 1; done
  echo "$name run$run: joined=$j tracks=$t/$tracks"
  sleep $WARM
  local la=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)
  local c0=$(cputicks $SP) l0=$(cputicks $LP); read p0 b0 e0 j t ts0 < <(stat); local pp0=$(prom total) pb0=$(prom bytes)
  sleep $WIN
  local c1=$(cputicks $SP) l1=$(cputicks $LP); read p1 b1 e1 j t ts1 < <(stat); local pp1=$(prom total) pb1=$(prom bytes)
  python3 - "$name" "$run" $c0 $c1 $l0 $l1 $p0 $p1 $b0 $b1 $e0 $e1 $pp0 $pp1 $pb0 $pb1 $ts0 $ts1 $HZ "$la" >> "$OUT" <<'PY'
import sys
a=sys.argv; name,run=a[1],a[2]; v=list(map(float,a[3:20])); la=a[20]
c0,c1,l0,l1,p0,p1,b0,b1,e0,e1,pp0,pp1,pb0,pb1,ts0,ts1,hz=v
win=(ts1-ts0)/1e9; cpu=(c1-c0)/hz; pk=p1-p0; exp=e1-e0
print("\t".join(map(str,[name,run,round(cpu,3),round(win,3),int(pk),int(b1-b0),int(exp),int(pp1-pp0),int(pb1-pb0),
 round(cpu*1e6/pk,2) if pk else 'nan', round(100*cpu/win,1), round((b1-b0)*8/win/1e6,2), round(pk/win), round(100*(exp-pk)/exp,3) if exp else 'nan',
 round(100*(l1-l0)/hz/win,1), la])))
PY
  tail -1 "$OUT"
  kill $LP; sleep 2; kill $SP; wait $LP $SP 2>/dev/null
}

mkdir -p logs
ROOMS=${ROOMS:-"1x20 1x50 1x200 5x5"}
for run in 1 2; do
  for r in $ROOMS; do
    case $r in
      1x20) run_room 1x20 1 20 $run;;
      1x50) run_room 1x50 1 50 $run;;
      1x200) run_room 1x200 1 200 $run;;
      5x5) run_room 5x5 5 0 $run;;
    esac
  done
done
