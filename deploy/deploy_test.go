// deploy_test.go: every Kubernetes manifest decodes strictly (unknown or
// repeated fields refused) into the official API types and has the shape
// the study needs (an Indexed Job with completions = parallelism = the N of
// --shard auto/N, one GPU per pod, the study folder on a shared claim, a
// merge Job reading the shards' folder); the Slurm scripts are valid bash
// with an array of N tasks for auto/N, one GPU each, and a merge queued
// with afterok; the image's build file has its two stages; the binary needs
// nothing but libc; and where docker, podman or buildah can build, the
// image is built and run.

package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// documents splits a YAML file into its documents.
func documents(b []byte) [][]byte {
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

// decodeStrict decodes one manifest into the API type of its kind,
// refusing fields the type does not have and fields given twice.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	case "v1 PersistentVolumeClaim":
		obj = &corev1.PersistentVolumeClaim{}
	case "v1 Pod":
		obj = &corev1.Pod{}
	default:
		return nil, fmt.Errorf("apiVersion %q kind %q: not a type this test knows (add it)", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

type manifests struct {
	jobs map[string]*batchv1.Job
	pvcs map[string]*corev1.PersistentVolumeClaim
	pods map[string]*corev1.Pod
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	m := manifests{map[string]*batchv1.Job{}, map[string]*corev1.PersistentVolumeClaim{}, map[string]*corev1.Pod{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range documents(b) {
			obj, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
				continue
			}
			switch o := obj.(type) {
			case *batchv1.Job:
				m.jobs[o.Name] = o
			case *corev1.PersistentVolumeClaim:
				m.pvcs[o.Name] = o
			case *corev1.Pod:
				m.pods[o.Name] = o
			}
		}
	}
	return m
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	b, err := os.ReadFile("k8s/study-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeStrict(b); err != nil {
		t.Fatalf("study-job.yaml: %v", err)
	}
	for _, bad := range []struct{ from, to, want string }{
		{"  parallelism: 4", "  paralelism: 4", `unknown field "paralelism"`},
		{"          command:", "          comand:", `unknown field "comand"`},
		{"  backoffLimit: 8", "  backoffLimit: 8\n  backoffLimit: 9", "backoffLimit"},
	} {
		doc := strings.Replace(string(b), bad.from, bad.to, 1)
		if doc == string(b) {
			t.Fatalf("study-job.yaml has no %q", bad.from)
		}
		if _, err := decodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q for %q: %v, want an error about %s", bad.to, bad.from, err, bad.want)
		}
	}
}

// cnngpuContainer returns the pod's container that runs cnngpu and its
// full command line.
func cnngpuContainer(t *testing.T, what string, spec corev1.PodSpec) (corev1.Container, []string) {
	t.Helper()
	for _, c := range spec.Containers {
		line := append(slices.Clone(c.Command), c.Args...)
		if len(line) > 0 && line[0] == "cnngpu" {
			return c, line[1:]
		}
	}
	t.Fatalf("%s runs no cnngpu container", what)
	return corev1.Container{}, nil
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// onSharedClaim checks that the pod mounts the claim and returns where.
func onSharedClaim(t *testing.T, what string, m manifests, spec corev1.PodSpec, c corev1.Container) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, ok := m.pvcs[v.PersistentVolumeClaim.ClaimName]
		if !ok {
			t.Errorf("%s mounts claim %q, which no manifest defines", what, v.PersistentVolumeClaim.ClaimName)
			continue
		}
		if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
			t.Errorf("claim %s is not ReadWriteMany: pods on several nodes share it", pvc.Name)
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == v.Name {
				return vm.MountPath
			}
		}
	}
	t.Errorf("%s mounts no shared claim", what)
	return ""
}

func oneGPU(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	if q, ok := c.Resources.Limits["nvidia.com/gpu"]; !ok || q.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("%s: nvidia.com/gpu limit %v, want 1", what, c.Resources.Limits)
	}
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	var study, merge *batchv1.Job
	for _, j := range m.jobs {
		_, args := cnngpuContainer(t, "Job "+j.Name, j.Spec.Template.Spec)
		switch {
		case len(args) > 0 && args[0] == "tune" && (len(args) < 2 || args[1] != "merge"):
			study = j
		case len(args) > 1 && args[0] == "tune" && args[1] == "merge":
			merge = j
		}
	}
	if study == nil || merge == nil {
		t.Fatalf("want a study Job and a merge Job, have %d Jobs", len(m.jobs))
	}

	// The Indexed Job: N pods, all at once, each its shard of N.
	s := study.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("Job %s: completionMode %v, want Indexed", study.Name, s.CompletionMode)
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatalf("Job %s: completions %v, parallelism %v: want them equal", study.Name, s.Completions, s.Parallelism)
	}
	n := int(*s.Completions)
	c, args := cnngpuContainer(t, "Job "+study.Name, s.Template.Spec)
	if got := flagValue(args, "--shard"); got != "auto/"+strconv.Itoa(n) {
		t.Errorf("Job %s: --shard %q with %d completions, want auto/%d", study.Name, got, n, n)
	}
	oneGPU(t, "Job "+study.Name, c)
	mount := onSharedClaim(t, "Job "+study.Name, m, s.Template.Spec, c)
	out := flagValue(args, "--out")
	if mount == "" || !strings.HasPrefix(out, mount+"/") || !strings.HasSuffix(out, "/$(JOB_COMPLETION_INDEX)") {
		t.Errorf("Job %s: --out %q: want a folder per index on the shared volume (%s/.../$(JOB_COMPLETION_INDEX))", study.Name, out, mount)
	}
	// $(JOB_COMPLETION_INDEX) is expanded only from the container's env.
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
		if e.Name == "JOB_COMPLETION_INDEX" && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
			e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']") {
			t.Errorf("Job %s: JOB_COMPLETION_INDEX does not come from the completion-index annotation", study.Name)
		}
	}
	if !slices.Contains(env, "JOB_COMPLETION_INDEX") {
		t.Errorf("Job %s: --out refers to $(JOB_COMPLETION_INDEX), which its env does not name", study.Name)
	}
	if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
		t.Errorf("Job %s: restartPolicy %q", study.Name, rp)
	}

	// The merge: reads the folder holding the shards, on one GPU.
	mc, margs := cnngpuContainer(t, "Job "+merge.Name, merge.Spec.Template.Spec)
	oneGPU(t, "Job "+merge.Name, mc)
	mmount := onSharedClaim(t, "Job "+merge.Name, m, merge.Spec.Template.Spec, mc)
	if mmount != mount {
		t.Errorf("the merge Job mounts the study folder at %s, the study Job at %s", mmount, mount)
	}
	if want := path.Dir(out); !slices.Contains(margs, want) {
		t.Errorf("Job %s: %v does not read the shards' folder %s", merge.Name, margs, want)
	}
	if merge.Spec.Completions != nil && *merge.Spec.Completions != 1 {
		t.Errorf("Job %s: %d completions, want 1", merge.Name, *merge.Spec.Completions)
	}

	// One image throughout.
	images := map[string]bool{}
	for _, j := range m.jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			images[c.Image] = true
		}
	}
	for _, p := range m.pods {
		for _, c := range p.Spec.Containers {
			images[c.Image] = true
		}
	}
	if len(images) != 1 {
		t.Errorf("the manifests use %d images (%v): want the one deploy/Dockerfile builds", len(images), images)
	}
}

func readText(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSlurmScripts(t *testing.T) {
	files, _ := filepath.Glob("slurm/*")
	for _, f := range files {
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
	}
	study := readText(t, "slurm/study.sbatch")
	m := regexp.MustCompile(`(?m)^#SBATCH --array=0-(\d+)$`).FindStringSubmatch(study)
	if m == nil {
		t.Fatal("study.sbatch has no #SBATCH --array=0-(N-1)")
	}
	hi, _ := strconv.Atoi(m[1])
	if !strings.Contains(study, fmt.Sprintf("--shard auto/%d ", hi+1)) {
		t.Errorf("study.sbatch: --array=0-%d but not --shard auto/%d", hi, hi+1)
	}
	for _, f := range []string{"slurm/study.sbatch", "slurm/merge.sbatch"} {
		s := readText(t, f)
		if !regexp.MustCompile(`(?m)^#SBATCH --gres=gpu:1$`).MatchString(s) {
			t.Errorf("%s does not ask for one GPU (#SBATCH --gres=gpu:1)", f)
		}
		// sbatch reads #SBATCH lines only before the first command.
		seenCmd := false
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				seenCmd = true
			}
			if seenCmd && strings.HasPrefix(l, "#SBATCH") {
				t.Errorf("%s: %q comes after a command, so sbatch ignores it", f, l)
			}
		}
	}
	if !strings.Contains(readText(t, "slurm/merge.sbatch"), "cnngpu tune merge --final") {
		t.Error("merge.sbatch does not merge and retrain")
	}
	sub := readText(t, "slurm/submit.sh")
	if !regexp.MustCompile(`sbatch --parsable[^\n]*study\.sbatch`).MatchString(sub) ||
		!regexp.MustCompile(`sbatch [^\n]*--dependency=afterok:"\$array"[^\n]*merge\.sbatch`).MatchString(sub) {
		t.Error("submit.sh does not queue merge.sbatch with --dependency=afterok on the array job")
	}
	if !strings.Contains(sub, "4 shards") || hi+1 != 4 {
		t.Errorf("submit.sh's message and the array (%d tasks) disagree", hi+1)
	}
}

func TestDockerfile(t *testing.T) {
	d := readText(t, "Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)(\s+AS\s+(\S+))?`).FindAllStringSubmatch(d, -1)
	if len(froms) != 2 || froms[0][3] != "build" {
		t.Fatalf("want a build stage and a runtime stage, have %v", froms)
	}
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG\s+(\w+)=(\S+)`).FindAllStringSubmatch(d, -1) {
		args[m[1]] = m[2]
	}
	img := func(s string) string {
		return regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(s, func(v string) string { return args[v[2:len(v)-1]] })
	}
	if b := img(froms[0][1]); !strings.HasPrefix(b, "golang:") {
		t.Errorf("build stage from %s, want a golang image", b)
	}
	if r := img(froms[1][1]); !strings.HasPrefix(r, "nvidia/cuda:") || !strings.Contains(r, "cudnn") || !strings.Contains(r, "runtime") {
		t.Errorf("runtime stage from %s, want NVIDIA's CUDA runtime image with cuDNN", r)
	}
	for _, s := range []string{"CGO_ENABLED=1", "COPY --from=build /out/cnngpu", `ENTRYPOINT ["cnngpu"]`, "data fetch"} {
		if !strings.Contains(d, s) {
			t.Errorf("Dockerfile lacks %q", s)
		}
	}
	// The image's user owns cnngpu's cache folder, where a GPU run
	// remembers cuDNN's choices (COPY makes it root's).
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(d)
	cache := regexp.MustCompile(`(?m)^ENV\s+XDG_CACHE_HOME=(\S+)`).FindStringSubmatch(d)
	if user == nil || cache == nil || !regexp.MustCompile(`chown\s+`+regexp.QuoteMeta(user[1])+`\s+`+regexp.QuoteMeta(cache[1]+"/cnngpu")+`(\s|$)`).MatchString(d) {
		t.Errorf("the image's user (USER %v) does not own its cache folder (XDG_CACHE_HOME %v, + /cnngpu)", user, cache)
	}
}

// TestBinaryNeedsOnlyLibc: the runtime image supplies cuBLAS and cuDNN and
// the host the driver, all loaded with dlopen; the binary itself must need
// nothing but the C library, so any glibc base image runs it.
func TestBinaryNeedsOnlyLibc(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cnngpu")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../cmd/cnngpu")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	glibc := []string{"libc.so.6", "libdl.so.2", "libpthread.so.0", "libm.so.6"}
	for _, l := range libs {
		if !slices.Contains(glibc, l) {
			t.Errorf("cnngpu links %s (needs %v): only the C library may be linked, the rest is dlopen'ed", l, libs)
		}
	}
	if !slices.Contains(libs, "libc.so.6") {
		t.Errorf("cnngpu needs %v, not libc.so.6: built without cgo?", libs)
	}
}

// builder finds a container builder that works here, or says why none.
func builder() (cmd []string, why string) {
	var notes []string
	if _, err := exec.LookPath("docker"); err == nil {
		out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if err == nil {
			return []string{"docker", "build"}, ""
		}
		notes = append(notes, "docker is installed but its daemon does not answer ("+strings.TrimSpace(firstLine(out))+")")
	} else {
		notes = append(notes, "no docker")
	}
	if _, err := exec.LookPath("podman"); err == nil {
		if out, err := exec.Command("podman", "info").CombinedOutput(); err == nil {
			return []string{"podman", "build"}, ""
		} else {
			notes = append(notes, "podman does not run ("+strings.TrimSpace(firstLine(out))+")")
		}
	} else {
		notes = append(notes, "no podman")
	}
	if _, err := exec.LookPath("buildah"); err == nil {
		if out, err := exec.Command("buildah", "info").CombinedOutput(); err == nil {
			return []string{"buildah", "bud"}, ""
		} else {
			notes = append(notes, "buildah does not run ("+strings.TrimSpace(firstLine(out))+")")
		}
	} else {
		notes = append(notes, "no buildah")
	}
	return nil, strings.Join(notes, "; ")
}

// firstLine is the first non-empty line of a command's output.
func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "no output"
}

// TestContainerBuild builds the image and runs it (on the CPU: the dry run
// of a shard, and a study folder's merge) where a builder works; else it
// skips, saying why.
func TestContainerBuild(t *testing.T) {
	b, why := builder()
	if b == nil {
		t.Skipf("no container builder usable here: %s", why)
	}
	if testing.Short() {
		t.Skip("-short: building the image fetches base images and modules")
	}
	tag := "cnngpu:test-" + strconv.FormatInt(time.Now().Unix(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, b[0], append(b[1:], "-f", "deploy/Dockerfile", "-t", tag, ".")...)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(build.Args, " "), err, out)
	}
	run := b[0]
	if run == "buildah" {
		t.Logf("built %s with buildah; running it needs podman or docker", tag)
		return
	}
	defer exec.Command(run, "rmi", tag).Run()
	out, err := exec.CommandContext(ctx, run, "run", "--rm", "-e", "JOB_COMPLETION_INDEX=1", tag,
		"tune", "--shard", "auto/4", "--out", "/study/shards/1", "--dry-run").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("shard 1/4 from JOB_COMPLETION_INDEX=1")) {
		t.Errorf("the image's dry run: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, run, "run", "--rm", tag, "data", "verify").CombinedOutput()
	if err != nil {
		t.Errorf("the image's MNIST: %v\n%s", err, out)
	}
}
