#!/bin/bash
# submit.sh: queues the study's array job and the merge job that depends on
# it (afterok: the merge starts only when every array task has succeeded).
# Run it from the folder the study should go into (study/ there), or set
# STUDY to a folder on a file system every node sees:
#   deploy/slurm/submit.sh            # or: STUDY=/shared/me/study deploy/slurm/submit.sh
# cnngpu must be on PATH on the compute nodes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export STUDY=${STUDY:-$PWD/study}
mkdir -p "$STUDY"
array=$(sbatch --parsable --export=ALL "$here/study.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL --dependency=afterok:"$array" "$here/merge.sbatch")
merge=${merge%%;*}
echo "study: array job $array (4 shards into $STUDY/shards), merge job $merge (into $STUDY/merged)"
echo "watch: squeue -j $array,$merge    results: $STUDY/merged/report.md"
