#!/usr/bin/env bash
# local-indexed-job.sh: plays the Kubernetes Indexed Job of deploy/k8s on
# one machine, to try a study's split and merge before a cluster does: N
# cnngpu processes at once, process I with JOB_COMPLETION_INDEX=I running
# the study pod's command (tune --shard auto/N --out DIR/shards/I), then
# the merge Job's (tune merge --final --out DIR/merged DIR/shards).
#   deploy/local-indexed-job.sh N DIR [tune flags...]
# The tune flags go to every shard (e.g. --cpu and a small grid); those
# that choose the engine and data (--cpu --device --precision --threads
# --data) go to the merge's final retraining too. Each shard's output is in
# DIR/logs/shard-I.log. CNNGPU names the binary (default: cnngpu on PATH).
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 N DIR [tune flags...]" >&2
	exit 2
fi
n=$1 dir=$2
shift 2
cnngpu=${CNNGPU:-cnngpu}
engine=()
args=("$@")
for ((k = 0; k < ${#args[@]}; k++)); do
	case ${args[k]} in
	--cpu | --cpu=*) engine+=("${args[k]}") ;;
	--device=* | --precision=* | --threads=* | --data=*) engine+=("${args[k]}") ;;
	--device | --precision | --threads | --data) engine+=("${args[k]}" "${args[k + 1]}") ;;
	esac
done
mkdir -p "$dir/logs"
start=$(date +%s)
pids=()
for ((i = 0; i < n; i++)); do
	JOB_COMPLETION_INDEX=$i "$cnngpu" tune --shard "auto/$n" --out "$dir/shards/$i" "$@" >"$dir/logs/shard-$i.log" 2>&1 &
	pids+=($!)
done
failed=0
for ((i = 0; i < n; i++)); do
	if wait "${pids[i]}"; then
		echo "pod $i: $(grep -c '^\[' "$dir/logs/shard-$i.log") runs, $(grep -E 'all runs (of this shard )?finished' "$dir/logs/shard-$i.log" | sed 's/.*(\(.*\) this time)/\1/')"
	else
		echo "pod $i failed; its output:" >&2
		cat "$dir/logs/shard-$i.log" >&2
		failed=1
	fi
done
[ "$failed" = 0 ] || exit 1
echo "all $n pods done in $(($(date +%s) - start)) s; merge step:"
"$cnngpu" tune merge --final "${engine[@]}" --out "$dir/merged" "$dir/shards"
echo "total $(($(date +%s) - start)) s"
