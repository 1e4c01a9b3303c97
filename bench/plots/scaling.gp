# annals -- draws the series of bench/scaling_bench.cpp as PNG files.
#
# Usage: gnuplot -c bench/plots/scaling.gp DIR [LABEL]
# Reads DIR/scaling_{aggregates,journal_size,recovery}.csv (written by
# scaling_bench, header row first) and writes DIR/scaling_*.png (640x400).
# LABEL (e.g. "quick run, fsync 0.2 ms") goes into each title. A series
# whose CSV is missing is skipped.

dir = ARG1
label = (ARGC >= 2 && strlen(ARG2) > 0) ? " (".ARG2.")" : ""

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 640,400 font ",9" enhanced
} else {
  set terminal png size 640,400 enhanced
}

set datafile separator ","
set key autotitle columnhead
set grid xtics ytics
set logscale x 10
set format x "10^{%L}"
set mxtics 10
set key below horizontal samplen 2 width -4
set style line 1 lw 2 pt 7 ps 1.0 lc rgb "#1f77b4"
set style line 2 lw 2 pt 5 ps 0.9 lc rgb "#7f7f7f" dt 2
set style line 3 lw 2 pt 9 ps 1.0 lc rgb "#d62728"
set style line 4 lw 1 lc rgb "#2ca02c" dt 3

file_exists(f) = system("test -r '".f."' && echo 1 || echo 0") + 0
min(a, b) = a < b ? a : b
max(a, b) = a > b ? a : b

# -- (1) throughput and p99 vs aggregates -------------------------------------

f = dir."/scaling_aggregates.csv"
if (file_exists(f)) {
  set yrange [*:*]  # stats of one column honour the y range
  stats f using "cmd_per_s" nooutput
  lo = STATS_min; hi = STATS_max
  stats f using "raw_ev_per_s" nooutput
  lo = min(lo, STATS_min); hi = max(hi, STATS_max)
  set output dir."/scaling_aggregates.png"
  set title "runtime (b): 256 in flight, fsync, random ids".label
  set xlabel "aggregates (max\\_live 100k: beyond it, LRU passivation and recovery are in the loop)"
  set ylabel "commands/s (events/s for raw LMDB; log)"
  set y2label "p99 latency (ms)"
  set ytics nomirror
  set y2tics
  set logscale y 10
  set yrange [lo / 3 : hi * 3]
  set y2range [0:*]
  set format y "%.0s%c"
  set offsets graph 0.1, graph 0.1, 0, 0
  plot f using "aggregates":"cmd_per_s" with linespoints ls 1 \
         title "runtime cmd/s (label: x raw, fsync)", \
       f using "aggregates":"raw_ev_per_s" with linespoints ls 2 \
         title "raw LMDB, same batch", \
       f using "aggregates":"p99_ms" axes x1y2 with linespoints ls 3 \
         title "runtime p99 (ms, right axis)", \
       f using "aggregates":"cmd_per_s":(sprintf("%.2fx, %.2g ms", \
           column("runtime_vs_raw"), column("fsync_ms"))) \
         with labels offset 0,-1.1 notitle
  unset logscale y
  set offsets 0, 0, 0, 0
  unset output
}

# -- (2) throughput and p99 vs events already in the journal ------------------

f = dir."/scaling_journal_size.csv"
if (file_exists(f)) {
  set yrange [*:*]  # stats of one column honour the y range
  stats f using "cmd_per_s" nooutput
  lo = STATS_min; hi = STATS_max
  stats f using "raw_ev_per_s" nooutput
  lo = min(lo, STATS_min); hi = max(hi, STATS_max)
  set output dir."/scaling_journal_size.png"
  set title "runtime (b), 10^4 aggregates, vs journal size".label
  set xlabel "events already in the journal (top: B-tree depths log/stream/partition index, data.mdb)"
  set ylabel "commands/s (events/s for raw LMDB; log)"
  set y2label "p99 latency (ms)"
  set ytics nomirror
  set y2tics
  set logscale y 10
  set yrange [lo / 3 : hi * 8]
  set y2range [0:*]
  set format y "%.0s%c"
  set offsets graph 0.12, graph 0.12, 0, 0
  plot f using "events_before":"cmd_per_s" with linespoints ls 1 \
         title "runtime cmd/s (label: x raw, fsync)", \
       f using "events_before":"raw_ev_per_s" with linespoints ls 2 \
         title "raw LMDB, same batch", \
       f using "events_before":"p99_ms" axes x1y2 with linespoints ls 3 \
         title "runtime p99 (ms, right axis)", \
       f using "events_before":(hi * 4):(sprintf("%d/%d/%d, %.0f MiB", \
           column("log_depth"), column("stream_index_depth"), \
           column("partition_index_depth"), column("data_file_mib"))) \
         with labels notitle, \
       f using "events_before":"cmd_per_s":(sprintf("%.2fx, %.2g ms", \
           column("runtime_vs_raw"), column("fsync_ms"))) \
         with labels offset 0,-1.1 notitle
  unset logscale y
  set offsets 0, 0, 0, 0
  unset output
}

# -- (3) recovery time vs events since the last snapshot ----------------------

f = dir."/scaling_recovery.csv"
if (file_exists(f)) {
  set output dir."/scaling_recovery.png"
  set title "recovery: first command to a fresh aggregate".label
  set key inside top left vertical maxrows auto box opaque samplen 3
  set xlabel "events since the last snapshot (no snapshot)"
  set ylabel "send -> reply (ms)"
  unset y2label
  unset y2tics
  set ytics mirror
  set logscale y 10
  set format y "%g"
  set yrange [*:*]
  set offsets 0, 0, 0, 0
  plot f using "events":"runtime_ms":"runtime_min_ms":"runtime_max_ms" \
         with yerrorlines ls 1 title "runtime (median, min..max)", \
       f using "events":"replay_alone_first_ms" with linespoints ls 2 \
         title "replay alone, no actors (fresh map)", \
       f using "events":"scan_alone_hot_ms" with linespoints ls 3 \
         title "journal scan alone (hot)", \
       [x=80:150000] x * 2e-4 with lines ls 4 \
         title "200 ns/event (target: 10^4 in 2 ms)"
  unset logscale y
  unset output
}
