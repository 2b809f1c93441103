# Throughput against concurrency (docs/performance-sweep.dat, written by
# docs/performance-sweep.sh): median of the runs, bars from min to max.
set terminal pngcairo size 900,560 font "sans,11" noenhanced
set output "performance-throughput.png"
set title "hookgate bench: 2 KiB signed deliveries, loopback, 2 cores"
set xlabel "concurrent connections"
set ylabel "requests/s (median, min-max)"
set logscale x 2
set xrange [0.7:370]
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
set grid
set key top right
set format y "%.0f"
plot "performance-sweep.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 title "baseline (net/http + HMAC, 204)", \
     "" using 1:11:12:13 with yerrorlines lw 2 pt 13 dt 2 title "durable baseline (+ append, fdatasync before 204; no database)", \
     "" using 1:5:6:7 with yerrorlines lw 2 pt 5 title "hookgate on SQLite (synchronous=FULL)", \
     "" using 1:8:9:10 with yerrorlines lw 2 pt 9 title "hookgate on PostgreSQL (synchronous_commit=on)"
