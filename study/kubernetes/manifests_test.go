package kubernetes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/losslab/losslab/study"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// smallSpec is a two-objective, one-seed study: three training units
// (softmax, and label smoothing at two α), small enough to plan at once.
func smallSpec() study.Spec {
	return study.Spec{
		Name: "Tiny K8s Study", Dataset: "mnist", Model: "mlp",
		Recipe:  study.Recipe{"epochs": 1, "train_limit": 256, "test_limit": 128, "threads": 2, "batch_size": 64},
		Holdout: 100,
		Objectives: []study.ObjectiveSpec{
			{Name: "softmax"},
			{Name: "label_smoothing", Sweep: map[string][]float64{"alpha": {0.1, 0.2}}},
		},
		Seeds:    []uint64{1},
		Analyses: []string{"calibration", "cka", "predictions"},
	}
}

func smallPlan(t *testing.T) *study.Plan {
	t.Helper()
	p, err := study.NewPlan(smallSpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.TrainUnits()); n != 3 || len(p.Units) <= n {
		t.Fatalf("plan has %d units, %d of them training; want 3 training units and some analyses", len(p.Units), n)
	}
	return p
}

const (
	mount = "/data"
	dir   = "/data/studies/tiny"
	store = "/data/units"
)

func baseOptions() Options {
	return Options{Image: "registry.example/losslab:v1", PVC: "losslab-data", MountPath: mount}
}

func render(t *testing.T, p *study.Plan, o Options) (*batchv1.Job, *batchv1.Job, []byte) {
	t.Helper()
	tr, an, err := Manifests(p, dir, store, o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteManifests(&b, tr, an); err != nil {
		t.Fatal(err)
	}
	return tr, an, b.Bytes()
}

// TestGoldenManifests compares the rendered YAML with testdata; run
// 'go test ./study/kubernetes -update' after an intended change (a change
// of the plan's unit ids changes the default Job names).
func TestGoldenManifests(t *testing.T) {
	p := smallPlan(t)
	full := baseOptions()
	full.Binary = "/usr/local/bin/losslab"
	full.Namespace = "research"
	full.Name = "kornblith-repro"
	full.Parallelism = 2
	full.RetriesPerIndex = ptr(int32(0))
	full.CPU, full.Memory = "2", "4Gi"
	full.ServiceAccount = "losslab-runner"
	for _, c := range []struct {
		name string
		o    Options
	}{{"defaults", baseOptions()}, {"full", full}} {
		t.Run(c.name, func(t *testing.T) {
			_, _, got := render(t, p, c.o)
			_, _, again := render(t, p, c.o)
			if !bytes.Equal(got, again) {
				t.Fatal("two renderings of the same plan differ: the output is not deterministic")
			}
			path := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./study/kubernetes -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output (go test ./study/kubernetes -update rewrites it if the change is intended):\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff lists the first few lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + c + "\n")
			shown++
		}
	}
	return b.String()
}

func TestManifests(t *testing.T) {
	p := smallPlan(t)
	tr, an, y := render(t, p, baseOptions())
	units := len(p.TrainUnits())

	if tr.Spec.Completions == nil || int(*tr.Spec.Completions) != units {
		t.Errorf("training completions %v; want one per training unit, %d", tr.Spec.Completions, units)
	}
	if tr.Spec.CompletionMode == nil || *tr.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("training completion mode %v; want Indexed (the pods find their unit by index)", tr.Spec.CompletionMode)
	}
	if got := *tr.Spec.Parallelism; int(got) != min(units, DefaultMaxParallelism) {
		t.Errorf("default parallelism %d; want min(units, %d) = %d", got, DefaultMaxParallelism, min(units, DefaultMaxParallelism))
	}
	if tr.Spec.BackoffLimitPerIndex == nil || *tr.Spec.BackoffLimitPerIndex != DefaultRetriesPerIndex {
		t.Errorf("backoffLimitPerIndex %v; want %d", tr.Spec.BackoffLimitPerIndex, DefaultRetriesPerIndex)
	}
	if tr.Spec.MaxFailedIndexes != nil {
		t.Errorf("maxFailedIndexes %d; want unset, so one failing unit does not stop the rest", *tr.Spec.MaxFailedIndexes)
	}
	if an.Spec.Completions == nil || *an.Spec.Completions != 1 || an.Spec.CompletionMode != nil {
		t.Errorf("analyses Job: completions %v, mode %v; want a plain Job of one completion", an.Spec.Completions, an.Spec.CompletionMode)
	}
	if an.Spec.BackoffLimit == nil || *an.Spec.BackoffLimit != DefaultRetriesPerIndex {
		t.Errorf("analyses backoffLimit %v; want %d", an.Spec.BackoffLimit, DefaultRetriesPerIndex)
	}

	for _, c := range []struct {
		j    *batchv1.Job
		role string
		sub  string
	}{{tr, RoleTrain, "run-unit"}, {an, RoleAnalyses, "run-plan"}} {
		pod := c.j.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", c.j.Name, len(pod.Containers))
		}
		ct := pod.Containers[0]
		want := []string{"losslab", "study", c.sub, "--out", dir, "--store", store}
		if !slices.Equal(ct.Command, want) {
			t.Errorf("%s: command %q; want %q", c.j.Name, ct.Command, want)
		}
		// The index comes from JOB_COMPLETION_INDEX in the pod's
		// environment (set by Kubernetes), never from the command line.
		if slices.Contains(ct.Command, "--index") || len(ct.Args) > 0 {
			t.Errorf("%s: command %q args %q pass an index; run-unit reads %s", c.j.Name, ct.Command, ct.Args, IndexEnv)
		}
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %s; want Never", c.j.Name, pod.RestartPolicy)
		}
		if len(pod.Volumes) != 1 || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "losslab-data" {
			t.Errorf("%s: volumes %+v; want the PVC losslab-data", c.j.Name, pod.Volumes)
		} else if len(ct.VolumeMounts) != 1 || ct.VolumeMounts[0].Name != pod.Volumes[0].Name || ct.VolumeMounts[0].MountPath != mount {
			t.Errorf("%s: mounts %+v; want the PVC's volume at %s", c.j.Name, ct.VolumeMounts, mount)
		}
		for _, labels := range []map[string]string{c.j.Labels, c.j.Spec.Template.Labels} {
			if labels[LabelApp] != "losslab" || labels[LabelRole] != c.role || labels[LabelStudy] != tr.Labels[LabelStudy] || labels[LabelStudy] == "" {
				t.Errorf("%s: labels %v; want app losslab, role %s, one study label", c.j.Name, labels, c.role)
			}
		}
		if c.j.Spec.TTLSecondsAfterFinished != nil {
			t.Errorf("%s: ttlSecondsAfterFinished set; the Job must stay for resume", c.j.Name)
		}
		if len(ct.Resources.Requests) != 0 || len(ct.Resources.Limits) != 0 {
			t.Errorf("%s: resources %v without --cpu/--memory", c.j.Name, ct.Resources)
		}
	}

	// The default names: valid, stable for the same plan, different for
	// another plan.
	if !strings.HasPrefix(tr.Name, "losslab-tiny-k8s-study-") || tr.Name != tr.Labels[LabelStudy]+"-train" || an.Name != tr.Labels[LabelStudy]+"-analyses" {
		t.Errorf("job names %s, %s (study label %s)", tr.Name, an.Name, tr.Labels[LabelStudy])
	}
	tr2, _, _ := render(t, smallPlan(t), baseOptions())
	if tr2.Name != tr.Name {
		t.Errorf("the same plan gave job names %s and %s; want stable names", tr.Name, tr2.Name)
	}
	s := smallSpec()
	s.Seeds = []uint64{1, 2}
	p2, err := study.NewPlan(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr3, _, _ := render(t, p2, baseOptions())
	if tr3.Name == tr.Name {
		t.Errorf("plans with 3 and 6 training units share the job name %s", tr.Name)
	}
	if *tr3.Spec.Completions != 6 {
		t.Errorf("two seeds: completions %d; want 6", *tr3.Spec.Completions)
	}

	// The YAML: two documents, the training Job first, and a header that
	// orders the kubectl commands.
	docs := strings.Split(string(y), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d YAML parts; want a header and two documents:\n%s", len(docs), y)
	}
	var back batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != tr.Name || back.Kind != "Job" || back.APIVersion != "batch/v1" || *back.Spec.Completions != int32(units) {
		t.Errorf("first document: %s %s %s, %d completions; want the training Job", back.APIVersion, back.Kind, back.Name, *back.Spec.Completions)
	}
	head := docs[0]
	iTrain := strings.Index(head, "kubectl apply -n default -f kubernetes.yaml -l losslab/role=train")
	iWait := strings.Index(head, "kubectl wait -n default --for=condition=complete --timeout=-1s job/"+tr.Name)
	iAn := strings.Index(head, "kubectl apply -n default -f kubernetes.yaml -l losslab/role=analyses")
	if iTrain < 0 || iWait < iTrain || iAn < iWait {
		t.Errorf("header does not order apply train, wait, apply analyses:\n%s", head)
	}
	if strings.Contains(string(y), "creationTimestamp: \"2") || strings.Contains(string(y), "uid:") {
		t.Error("manifests hold a timestamp or uid")
	}
}

func TestManifestsResources(t *testing.T) {
	o := baseOptions()
	o.CPU, o.Memory, o.Parallelism = "1500m", "3Gi", 100
	tr, _, _ := render(t, smallPlan(t), o)
	res := tr.Spec.Template.Spec.Containers[0].Resources
	if q := res.Requests[corev1.ResourceCPU]; q.String() != "1500m" {
		t.Errorf("cpu request %s; want 1500m", q.String())
	}
	if _, ok := res.Limits[corev1.ResourceCPU]; ok {
		t.Error("cpu limit set; want none, so idle cores are used")
	}
	if q := res.Requests[corev1.ResourceMemory]; q.String() != "3Gi" {
		t.Errorf("memory request %s; want 3Gi", q.String())
	}
	if q := res.Limits[corev1.ResourceMemory]; q.String() != "3Gi" {
		t.Errorf("memory limit %s; want 3Gi, the request", q.String())
	}
	if *tr.Spec.Parallelism != 3 {
		t.Errorf("parallelism 100 on 3 units gave %d; want 3", *tr.Spec.Parallelism)
	}
}

func TestOptionsCheck(t *testing.T) {
	p := smallPlan(t)
	cases := []struct {
		name       string
		edit       func(*Options)
		dir, store string
		want       []string // each must appear in the error
	}{
		{"no image", func(o *Options) { o.Image = "" }, dir, store, []string{"--image"}},
		{"no pvc", func(o *Options) { o.PVC = "" }, dir, store, []string{"--pvc"}},
		{"bad pvc", func(o *Options) { o.PVC = "Data_Volume" }, dir, store, []string{"--pvc", "Data_Volume"}},
		{"no mount", func(o *Options) { o.MountPath = "" }, dir, store, []string{"--mount"}},
		{"relative mount", func(o *Options) { o.MountPath = "data" }, dir, store, []string{"--mount", "absolute"}},
		{"dir outside mount", nil, "/home/me/study", store, []string{"--out", "/home/me/study", "--mount /data"}},
		{"dir beside mount", nil, "/database/study", store, []string{"--out", "/database/study"}},
		{"relative dir", nil, "studies/tiny", store, []string{"--out", "studies/tiny"}},
		{"store outside mount", nil, dir, "/scratch/units", []string{"--store", "/scratch/units"}},
		{"default store outside mount", nil, "/tmp/study", "", []string{"--out", "--store", "/tmp/study/units"}},
		{"bad name", func(o *Options) { o.Name = "Losslab_Study" }, dir, store, []string{"Losslab_Study", "DNS-1123"}},
		{"long name", func(o *Options) { o.Name = strings.Repeat("a", 55) }, dir, store, []string{"at most 54"}},
		{"bad namespace", func(o *Options) { o.Namespace = "Research" }, dir, store, []string{"--namespace"}},
		{"bad cpu", func(o *Options) { o.CPU = "two" }, dir, store, []string{"--cpu", "two"}},
		{"zero memory", func(o *Options) { o.Memory = "0" }, dir, store, []string{"--memory"}},
		{"negative retries", func(o *Options) { o.RetriesPerIndex = ptr(int32(-1)) }, dir, store, []string{"--retries"}},
		{"negative parallelism", func(o *Options) { o.Parallelism = -2 }, dir, store, []string{"--parallelism"}},
		{"two problems", func(o *Options) { o.Image, o.PVC = "", "" }, dir, store, []string{"--image", "--pvc"}},
	}
	for _, c := range cases {
		o := baseOptions()
		if c.edit != nil {
			c.edit(&o)
		}
		_, _, err := Manifests(p, c.dir, c.store, o)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", c.name, err, w)
			}
		}
	}
	// The edges that are fine: the study at the PVC's root, the PVC at /,
	// a default store under the study.
	for _, ok := range []struct{ mount, dir, store string }{{"/data", "/data", ""}, {"/", "/study", "/units"}, {"/data/", "/data/s/../t", ""}} {
		o := baseOptions()
		o.MountPath = ok.mount
		if _, _, err := Manifests(p, ok.dir, ok.store, o); err != nil {
			t.Errorf("mount %s, dir %s, store %q: %v", ok.mount, ok.dir, ok.store, err)
		}
	}
}

func TestDefaultName(t *testing.T) {
	p := &study.Plan{Study: strings.Repeat("Très long nom d'étude ", 5), Units: []study.Unit{{ID: "train-a", Kind: study.KindTrain}}}
	n := DefaultName(p, dir, store)
	if len(n) > maxPrefix || !strings.HasPrefix(n, "losslab-tr-s-long-nom-d-tude-") || strings.Contains(n, "--") {
		t.Errorf("DefaultName = %q (%d characters)", n, len(n))
	}
	if o := (Options{Name: n}); o.Check(dir, store) != nil && strings.Contains(o.Check(dir, store).Error(), "DNS-1123") {
		t.Errorf("DefaultName %q fails its own check: %v", n, o.Check(dir, store))
	}
	p.Study = "--"
	if n := DefaultName(p, dir, store); !strings.HasPrefix(n, "losslab-") || len(n) != len("losslab-")+8 {
		t.Errorf("DefaultName of a study named %q = %q; want losslab-HASH", p.Study, n)
	}
	if DefaultName(p, dir, store) == DefaultName(p, dir, "/data/other-units") {
		t.Error("the store does not change the default name")
	}
}

// The API server refuses an Indexed Job whose last pod name,
// JOBNAME-INDEX, is not a DNS-1123 label; from 101 training units on the
// index is longer than "-analyses" is over "-train", so the name prefix
// must shrink.
func TestNamesLeaveRoomForPodIndexes(t *testing.T) {
	for _, units := range []int{1, 100, 101, 1000, 10001} {
		p := &study.Plan{Study: strings.Repeat("x", 80)}
		for i := range units {
			p.Units = append(p.Units, study.Unit{ID: "train-" + strconv.Itoa(i), Kind: study.KindTrain})
		}
		tr, an, err := Manifests(p, dir, store, baseOptions())
		if err != nil {
			t.Fatal(err)
		}
		pod := tr.Name + "-" + strconv.Itoa(units-1)
		if len(pod) > 63 || len(an.Name) > 63 {
			t.Errorf("%d units: last pod %s (%d characters), analyses job %s (%d)", units, pod, len(pod), an.Name, len(an.Name))
		}
		if units <= 100 && len(tr.Name) != 63-len("-analyses")+len("-train") {
			t.Errorf("%d units: training job %s (%d characters) does not use the whole prefix", units, tr.Name, len(tr.Name))
		}
		o := baseOptions()
		o.Name = strings.Repeat("n", maxPrefix)
		_, _, err = Manifests(p, dir, store, o)
		if units <= 100 && err != nil {
			t.Errorf("%d units, a %d-character name: %v", units, maxPrefix, err)
		}
		if units > 100 && (err == nil || !strings.Contains(err.Error(), "too long for "+strconv.Itoa(units)+" training units")) {
			t.Errorf("%d units, a %d-character name: %v; want it refused as too long", units, maxPrefix, err)
		}
	}
}
