// deploy_test.go: every cnngpu command line in deploy/ (the Kubernetes
// manifests and the Slurm scripts) goes through this CLI's own flag
// parsing and checks, with the environment its scheduler gives each task,
// without running anything; and an Indexed Job played on this machine (N
// processes with JOB_COMPLETION_INDEX = 0..N-1 writing into one shared
// folder, then 'tune merge') gives the unsharded study's results.
// (deploy/deploy_test.go decodes the manifests strictly into the
// Kubernetes API types.)

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"
)

// parsed is what parsing a command line yielded.
type parsed struct {
	cmd   string // "tune" or "tune merge"
	spec  *tune.Spec
	out   string
	dirs  []string
	final bool
}

// parseOnly runs args (without the program name) through the CLI's flag
// parsing and the checks its actions start with, in the environment env,
// and stops before any work.
func parseOnly(t *testing.T, args []string, env map[string]string) (*parsed, error) {
	t.Helper()
	for _, k := range []string{tune.EnvK8sIndex, tune.EnvSlurmID, tune.EnvSlurmCount, tune.EnvSlurmMin, tune.EnvSlurmMax} {
		t.Setenv(k, env[k])
	}
	app := newApp()
	var got *parsed
	var wrap func(cmds []*cli.Command, path string)
	wrap = func(cmds []*cli.Command, path string) {
		for _, c := range cmds {
			name := strings.TrimSpace(path + " " + c.Name)
			switch name {
			case "tune":
				c.Action = func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("tune takes no arguments, got %q", c.Args().Slice())
					}
					spec, _, err := tuneSpec(c)
					if err != nil {
						return err
					}
					out, _, err := tuneOut(c, spec)
					got = &parsed{cmd: name, spec: spec, out: out, final: c.Bool("final")}
					return err
				}
			case "tune merge":
				c.Action = func(c *cli.Context) error {
					out, dirs, _, err := mergeFlags(c)
					got = &parsed{cmd: name, out: out, dirs: dirs, final: c.Bool("final")}
					return err
				}
			default:
				c.Action = func(*cli.Context) error {
					return fmt.Errorf("deploy/ runs 'cnngpu %s', which this test does not know", name)
				}
			}
			wrap(c.Subcommands, name)
		}
	}
	wrap(app.Commands, "")
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	err := app.Run(append([]string{"cnngpu"}, args...))
	if err == nil && got == nil {
		err = fmt.Errorf("no command ran")
	}
	return got, err
}

// k8sDoc is the part of a manifest the command lines come from.
type k8sDoc struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Completions *int `json:"completions"`
		Template    struct {
			Spec podSpec `json:"spec"`
		} `json:"template"`
		podSpec
	} `json:"spec"`
}

type podSpec struct {
	Containers []struct {
		Name    string   `json:"name"`
		Command []string `json:"command"`
		Args    []string `json:"args"`
		Env     []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"env"`
	} `json:"containers"`
}

// cmdLine is one cnngpu invocation found in deploy/, with the
// environment of each task that runs it.
type cmdLine struct {
	where string
	args  []string // Kubernetes: the arguments, $(VAR) not yet expanded
	shell string   // Slurm: the shell line, expanded per task
	envs  []map[string]string
}

var k8sVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// k8sLines lists the cnngpu command lines of the manifests, expanded as
// Kubernetes does ($(VAR) from the container's environment), once per
// completion index of an Indexed Job.
func k8sLines(t *testing.T, dir string) []cmdLine {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	var out []cmdLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var d k8sDoc
			if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			pod := d.Spec.podSpec
			indices := []int{-1}
			if d.Kind == "Job" {
				pod = d.Spec.Template.Spec
				if d.Spec.Completions != nil {
					indices = nil
					for k := 0; k < *d.Spec.Completions; k++ {
						indices = append(indices, k)
					}
				}
			}
			for _, c := range pod.Containers {
				full := append(slices.Clone(c.Command), c.Args...)
				if len(full) == 0 || full[0] != "cnngpu" {
					continue
				}
				where := fmt.Sprintf("%s: %s %s, container %s", filepath.Base(f), d.Kind, d.Metadata.Name, c.Name)
				var envs []map[string]string
				var args []string
				for _, k := range indices {
					env := map[string]string{}
					if k >= 0 {
						env[tune.EnvK8sIndex] = strconv.Itoa(k)
					}
					for _, e := range c.Env {
						if e.Value != "" {
							env[e.Name] = e.Value
						}
					}
					envs = append(envs, env)
				}
				args = full[1:]
				out = append(out, cmdLine{where: where, args: args, envs: envs})
			}
		}
	}
	return out
}

// shellWords splits a shell command line into words: whitespace outside
// quotes separates, single and double quotes group, and $VAR / ${VAR}
// (outside single quotes) are replaced from env. Enough for our scripts.
func shellWords(t *testing.T, line string, env map[string]string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote == 0 && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			continue
		case quote == 0 && (ch == '\'' || ch == '"'):
			quote, inWord = ch, true
			continue
		case quote != 0 && ch == quote:
			quote = 0
			continue
		case ch == '$' && quote != '\'':
			j := i + 1
			braced := j < len(line) && line[j] == '{'
			if braced {
				j++
			}
			k := j
			for k < len(line) && (line[k] == '_' || line[k] >= 'A' && line[k] <= 'Z' || line[k] >= 'a' && line[k] <= 'z' || line[k] >= '0' && line[k] <= '9') {
				k++
			}
			name := line[j:k]
			if braced {
				if k >= len(line) || line[k] != '}' {
					t.Fatalf("unsupported expansion in %q", line)
				}
				k++
			}
			v, ok := env[name]
			if !ok {
				t.Fatalf("%q uses $%s, which the test does not set", line, name)
			}
			w.WriteString(v)
			inWord = true
			i = k - 1
			continue
		case ch == '#' && quote == 0 && !inWord:
			i = len(line)
			continue
		}
		w.WriteByte(ch)
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

var arrayRange = regexp.MustCompile(`^#SBATCH\s+--array=(\d+)-(\d+)\s*$`)

// slurmLines lists the cnngpu command lines of the Slurm scripts, once
// per array task (with the variables Slurm sets) or once for a plain job.
func slurmLines(t *testing.T, dir string) []cmdLine {
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var out []cmdLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := -1, -1
		var lines []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		cont := ""
		for sc.Scan() {
			l := sc.Text()
			if m := arrayRange.FindStringSubmatch(l); m != nil {
				lo, _ = strconv.Atoi(m[1])
				hi, _ = strconv.Atoi(m[2])
			}
			if strings.HasSuffix(l, "\\") {
				cont += strings.TrimSuffix(l, "\\") + " "
				continue
			}
			l = strings.TrimSpace(cont + l)
			cont = ""
			if strings.HasPrefix(l, "cnngpu ") {
				lines = append(lines, l)
			}
		}
		for _, l := range lines {
			var envs []map[string]string
			base := map[string]string{"STUDY": "/shared/study", "SLURM_SUBMIT_DIR": "/shared"}
			if lo < 0 {
				envs = append(envs, base)
			}
			for k := lo; lo >= 0 && k <= hi; k++ {
				env := map[string]string{tune.EnvSlurmID: strconv.Itoa(k), tune.EnvSlurmCount: strconv.Itoa(hi - lo + 1),
					tune.EnvSlurmMin: strconv.Itoa(lo), tune.EnvSlurmMax: strconv.Itoa(hi)}
				for k, v := range base {
					env[k] = v
				}
				envs = append(envs, env)
			}
			out = append(out, cmdLine{where: filepath.Base(f), shell: l, envs: envs})
		}
	}
	return out
}

func TestDeployCommandLines(t *testing.T) {
	lines := append(k8sLines(t, "../../deploy/k8s"), slurmLines(t, "../../deploy/slurm")...)
	var shardOuts, mergeIns []string
	kinds := map[string]int{}
	for _, cl := range lines {
		for _, env := range cl.envs {
			args := slices.Clone(cl.args)
			if cl.shell != "" {
				args = shellWords(t, cl.shell, env)[1:]
			}
			for i, a := range args {
				args[i] = k8sVar.ReplaceAllStringFunc(a, func(m string) string {
					name := k8sVar.FindStringSubmatch(m)[1]
					if v, ok := env[name]; ok {
						return v
					}
					t.Errorf("%s: %q refers to $(%s), which is not in the container's environment", cl.where, a, name)
					return m
				})
			}
			p, err := parseOnly(t, args, env)
			if err != nil {
				t.Errorf("%s: cnngpu %s (env %v): %v", cl.where, strings.Join(args, " "), env, err)
				continue
			}
			kinds[cl.where[:strings.Index(cl.where+":", ":")]+" "+p.cmd]++
			switch p.cmd {
			case "tune":
				// Each task of an array or Indexed Job runs its own shard
				// into its own folder.
				idx := env[tune.EnvK8sIndex]
				if idx == "" {
					idx = env[tune.EnvSlurmID]
				}
				if p.spec.Shard.N < 2 || strconv.Itoa(p.spec.Shard.I) != idx {
					t.Errorf("%s: task %s runs shard %s", cl.where, idx, p.spec.Shard)
				}
				if n := len(cl.envs); n != p.spec.Shard.N {
					t.Errorf("%s: %d tasks run a study split into %d shards", cl.where, n, p.spec.Shard.N)
				}
				if slices.Contains(shardOuts, p.out) {
					t.Errorf("%s: two tasks write into %s", cl.where, p.out)
				}
				shardOuts = append(shardOuts, p.out)
			case "tune merge":
				if !p.final {
					t.Errorf("%s: the merge step does not retrain the best setting (--final)", cl.where)
				}
				mergeIns = append(mergeIns, p.dirs...)
			}
		}
	}
	// Both schedulers have shards and a merge that reads their parent.
	for _, k := range []string{"study-job.yaml tune", "merge-job.yaml tune merge", "study.sbatch tune", "merge.sbatch tune merge"} {
		if kinds[k] == 0 {
			t.Errorf("no %q command line found in deploy/ (found %v)", k, kinds)
		}
	}
	for _, o := range shardOuts {
		if !slices.Contains(mergeIns, filepath.Dir(o)) {
			t.Errorf("shard folder %s is not in a folder a merge step reads (%v)", o, mergeIns)
		}
	}

	// The parsing is real: a wrong N or a missing index is refused.
	if _, err := parseOnly(t, []string{"tune", "--shard", "auto/4", "--out", "x"}, map[string]string{tune.EnvK8sIndex: "4"}); err == nil ||
		!strings.Contains(err.Error(), "out of range") {
		t.Errorf("index 4 of auto/4: %v", err)
	}
	if _, err := parseOnly(t, []string{"tune", "--shard", "auto/4", "--out", "x"}, nil); err == nil || !strings.Contains(err.Error(), "neither is set") {
		t.Errorf("auto/4 outside a scheduler: %v", err)
	}
	if _, err := parseOnly(t, []string{"tune", "merge", "--finall", "--out", "x", "y"}, nil); err == nil {
		t.Error("a misspelt merge flag was accepted")
	}
}

// TestIndexedJobOnOneMachine plays the Indexed Job: N processes of the
// manifest's shape (--shard auto/N, JOB_COMPLETION_INDEX=i, --out
// shared/shards/i) at once, then the merge step on the shared folder; the
// merged study must hold the unsharded study's configurations with the
// same numbers.
func TestIndexedJobOnOneMachine(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	grid := []string{"--cpu", "--threads", "1", "--data", dir, "--lr", "0.001,0.003", "--batch-size", "16,32", "--activation", "relu,tanh",
		"--epochs", "2", "--val-split", "0.2"}
	whole := filepath.Join(dir, "whole")
	if _, stderr, code := cnngpu(t, nil, append([]string{"tune", "--out", whole, "--final=false"}, grid...)...); code != 0 {
		t.Fatalf("unsharded study: %s", stderr)
	}
	// Its report says how to retrain the chosen setting: tune again
	// without --final=false (--final is the default), or merge's --final.
	if rep, err := os.ReadFile(filepath.Join(whole, "report.md")); err != nil || !strings.Contains(string(rep), "retrains it (without `--final=false`") || !strings.Contains(string(rep), "`cnngpu tune merge … --final`") {
		t.Errorf("the report of a study with --final=false: %v; want it to say how to retrain\n%s", err, rep)
	}
	const n = 3
	shared := filepath.Join(dir, "shared")
	var wg sync.WaitGroup
	outs := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(binary_, append([]string{"tune", "--shard", "auto/" + strconv.Itoa(n), "--out", filepath.Join(shared, "shards", strconv.Itoa(i))}, grid...)...)
			cmd.Env = append(os.Environ(), tune.EnvK8sIndex+"="+strconv.Itoa(i))
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v\n%s", i, errs[i], outs[i])
		}
		if want := fmt.Sprintf("shard %d/%d from %s=%d (Kubernetes Indexed Job)", i, n, tune.EnvK8sIndex, i); !strings.Contains(outs[i], want) {
			t.Errorf("shard %d output lacks %q:\n%s", i, want, outs[i])
		}
	}
	merged := filepath.Join(shared, "merged")
	// The merge step's command, checked first with --dry-run: what it
	// would do, nothing written; other data than the shards' refused.
	stdout, stderr, code := cnngpu(t, nil, "tune", "merge", "--dry-run", "--final", "--cpu", "--data", dir, "--out", merged, filepath.Join(shared, "shards"))
	if code != 0 || !strings.Contains(stdout, "would merge 8 runs from 3 folders") || !strings.Contains(stdout, "--final would then retrain and test the best setting\nnothing written (--dry-run)") {
		t.Errorf("merge --dry-run --final: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(merged); err == nil {
		t.Errorf("merge --dry-run --final made %s", merged)
	}
	other := t.TempDir()
	fakeMNIST(t, other, 200, 50)
	if _, stderr, code := cnngpu(t, nil, "tune", "merge", "--dry-run", "--final", "--cpu", "--data", other, "--out", merged, filepath.Join(shared, "shards")); code != 2 || !strings.Contains(stderr, "given for the final retraining") {
		t.Errorf("merge --dry-run --final with other data: exit %d\n%s", code, stderr)
	}
	missing := filepath.Join(dir, "missing")
	if _, stderr, code := cnngpu(t, nil, "tune", "merge", "--dry-run", "--final", "--cpu", "--data", missing, "--out", merged, filepath.Join(shared, "shards")); code != 2 || !strings.Contains(stderr, "--data: data folder "+missing+" does not exist") {
		t.Errorf("merge --dry-run --final with a --data that does not exist: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "tune", "merge", "--out", merged, filepath.Join(shared, "shards"))
	if code != 0 {
		t.Fatalf("merge: %s", stderr)
	}
	if !strings.Contains(stdout, "merged 8 runs from 3 folders") || strings.Contains(stdout, " new to ") {
		t.Errorf("merge output:\n%s", stdout)
	}
	// Merged again: each folder's finished runs, none of them new.
	stdout, stderr, code = cnngpu(t, nil, "tune", "merge", "--out", merged, filepath.Join(shared, "shards"))
	if code != 0 || !strings.Contains(stdout, "merged 0 runs from 3 folders into "+merged+" (8 there already)") || !regexp.MustCompile(`shard 0/3, [1-9] finished runs?, 0 new to `).MatchString(stdout) {
		t.Errorf("merging again: exit %d\n%s%s", code, stdout, stderr)
	}
	a := readFile(t, filepath.Join(whole, "results.csv"))
	b := readFile(t, filepath.Join(merged, "results.csv"))
	if dropLastColumn(a) != dropLastColumn(b) {
		t.Errorf("merged results differ from the unsharded study's:\n%s\n%s", a, b)
	}
	// The per-epoch records too, apart from the time.
	files, _ := filepath.Glob(filepath.Join(whole, "runs", "*.jsonl"))
	if len(files) != 8 {
		t.Fatalf("%d run files in the unsharded study, want 8", len(files))
	}
	for _, f := range files {
		x := readFile(t, f)
		y := readFile(t, filepath.Join(merged, "runs", filepath.Base(f)))
		if withoutSeconds(x) != withoutSeconds(y) {
			t.Errorf("%s differs:\n%s\n%s", filepath.Base(f), x, y)
		}
	}
	// Merging with a shard left out is refused, naming it.
	os.Rename(filepath.Join(shared, "shards", "2"), filepath.Join(dir, "shard2"))
	_, stderr, code = cnngpu(t, nil, "tune", "merge", "--out", filepath.Join(dir, "m2"), filepath.Join(shared, "shards"))
	if code != 1 || !strings.Contains(stderr, "shard 2/3: no folder given") {
		t.Errorf("merge without shard 2: exit %d, %s", code, stderr)
	}
	// With --allow-missing, merged, and every run missing named (only the
	// first was).
	stdout, stderr, code = cnngpu(t, nil, "tune", "merge", "--allow-missing", "--out", filepath.Join(dir, "m3"), filepath.Join(shared, "shards"))
	m := regexp.MustCompile(`(\d+) runs? (is|are) finished in no folder`).FindStringSubmatch(stdout)
	if code != 0 || m == nil {
		t.Fatalf("merge --allow-missing without shard 2: exit %d\n%s%s", code, stdout, stderr)
	}
	if k, _ := strconv.Atoi(m[1]); k < 2 || strings.Count(stdout, ".jsonl (") != k {
		t.Errorf("merge --allow-missing: %s runs missing, %d named:\n%s", m[1], strings.Count(stdout, ".jsonl ("), stdout)
	}
}

func dropLastColumn(csv string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(csv), "\n") {
		b.WriteString(l[:strings.LastIndex(l, ",")] + "\n")
	}
	return b.String()
}

var secondsField = regexp.MustCompile(`"(seconds|images_per_sec|val_seconds)":[0-9.e+-]+`)

func withoutSeconds(s string) string { return secondsField.ReplaceAllString(s, `"$1":_`) }
