//go:build kubernetes

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kube "k8s.io/client-go/kubernetes"
	batchclient "k8s.io/client-go/kubernetes/typed/batch/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/losslab/losslab/study"
	"github.com/losslab/losslab/study/kubernetes"
)

// These tests run 'losslab study --executor kubernetes' against a real API
// server: etcd and kube-apiserver on loopback, started by
// .ci/kube-apiserver-up.sh, which exports LOSSLAB_TEST_KUBECONFIG. No
// scheduler, kubelet or controller runs, so the tests play the Job
// controller, writing the Jobs' status through the status subresource as
// it does; the server validates every Job the executor creates and every
// status it is made to read, which a fake clientset does not
// (docs/clusters.md lists what that caught).

// kubeTestPoll is the executor's --poll here: short, to keep the tests
// fast, and slow enough for client-go's default rate limit.
const kubeTestPoll = "100ms"

// apiServer returns a client of the test API server and its kubeconfig,
// skipping the test without one unless LOSSLAB_TEST_DISALLOW_SKIP names
// kubernetes (as CI's does).
func apiServer(t *testing.T) (kube.Interface, string) {
	t.Helper()
	cfgPath := os.Getenv("LOSSLAB_TEST_KUBECONFIG")
	if cfgPath == "" {
		if strings.Contains(os.Getenv("LOSSLAB_TEST_DISALLOW_SKIP"), "kubernetes") {
			t.Fatal("no API server ($LOSSLAB_TEST_KUBECONFIG is unset), and LOSSLAB_TEST_DISALLOW_SKIP=kubernetes forbids skipping; start one with eval \"$(.ci/kube-apiserver-up.sh)\"")
		}
		t.Skip("no API server: run eval \"$(.ci/kube-apiserver-up.sh)\" first to set $LOSSLAB_TEST_KUBECONFIG")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The test polls and writes status often; client-go's default of 5
	// requests a second would make it wait on itself.
	cfg.QPS, cfg.Burst = 200, 400
	c, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfgPath
}

// namespace creates a namespace of its own for the test: the server
// outlives the test, and without the namespace controller a namespace is
// never emptied, so each test starts from an empty one.
func namespace(t *testing.T, c kube.Interface) string {
	t.Helper()
	ns := fmt.Sprintf("losslab-%s-%06d", strings.ToLower(strings.TrimPrefix(t.Name(), "TestKube")), rand.IntN(1e6))
	if len(ns) > 63 {
		ns = ns[len(ns)-63:]
	}
	_, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// kubeStudy is one study on the test server: its namespace, its folder
// (under a mount point standing in for the PVC's) and its command line.
type kubeStudy struct {
	c                kube.Interface
	ns, out          string
	args             []string // 'losslab study ...' without --apply
	trainJ, analyses string   // the Jobs' names, from the manifests
	plan             *study.Plan
}

// newKubeStudy writes the manifests of a two-unit study (without --apply),
// which gives the Jobs' names and the saved plan.
func newKubeStudy(t *testing.T, c kube.Interface, cfgPath string) *kubeStudy {
	t.Helper()
	mount := t.TempDir()
	s := &kubeStudy{c: c, ns: namespace(t, c), out: filepath.Join(mount, "study")}
	s.args = []string{"study", "--executor", "kubernetes", "--image", "example.invalid/losslab:1", "--pvc", "studies",
		"--mount", mount, "--out", s.out, "--namespace", s.ns, "--kubeconfig", cfgPath, "--poll", kubeTestPoll,
		"--memory", "1Gi", "--cpu", "1", kubeSpec(t)}
	if err := run(context.Background(), s.args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	tr, an := s.manifests(t)
	s.trainJ, s.analyses = tr.Name, an.Name
	p, err := study.LoadPlan(s.out)
	if err != nil {
		t.Fatal(err)
	}
	s.plan = p
	return s
}

// manifests reads the two Jobs of OUT/kubernetes.yaml.
func (s *kubeStudy) manifests(t *testing.T) (train, analyses *batchv1.Job) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.out, kubernetes.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%s has %d parts; want a comment and two Jobs", kubernetes.ManifestFile, len(docs))
	}
	var jobs [2]batchv1.Job
	for i := range jobs {
		if err := yaml.UnmarshalStrict([]byte(docs[i+1]), &jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return &jobs[0], &jobs[1]
}

func (s *kubeStudy) applyArgs() []string {
	return append(append([]string{}, s.args[:len(s.args)-1]...), "--apply", s.args[len(s.args)-1])
}

// applyAsync runs 'losslab study --apply' in this process.
func (s *kubeStudy) applyAsync(ctx context.Context) (done <-chan error, stdout, stderr *outBuffer) {
	stdout, stderr = &outBuffer{}, &outBuffer{}
	ch := make(chan error, 1)
	go func() { ch <- run(ctx, s.applyArgs(), stdout, stderr) }()
	return ch, stdout, stderr
}

func (s *kubeStudy) jobs() batchclient.JobInterface { return s.c.BatchV1().Jobs(s.ns) }

// get returns Job name, or nil if it does not exist.
func (s *kubeStudy) get(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	j, err := s.jobs().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// await polls until cond holds, failing the test after 30 s or when the
// executor (done) returns first.
func await(t *testing.T, what string, done <-chan error, log *outBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; executor log:\n%s", what, log)
		}
		select {
		case err := <-done:
			t.Fatalf("the executor returned (%v) before %s; log:\n%s", err, what, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// setStatus plays the Job controller: it changes Job name's status
// through the status subresource, failing the test with the server's
// reason if it refuses.
func (s *kubeStudy) setStatus(t *testing.T, name string, change func(*batchv1.JobStatus)) {
	t.Helper()
	j := s.get(t, name)
	if j == nil {
		t.Fatalf("job %s does not exist", name)
	}
	change(&j.Status)
	if _, err := s.jobs().UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("the server refused the status of job %s: %v", name, err)
	}
}

func cond(t batchv1.JobConditionType, reason string, at metav1.Time) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: "set by the test", LastProbeTime: at, LastTransitionTime: at}
}

// complete marks Job name Complete with all n completions succeeded, as
// the controller does (the server accepts Complete only together with
// SuccessCriteriaMet, the start and completion times and the counts).
func (s *kubeStudy) complete(t *testing.T, name string, n int32, indexed bool) {
	t.Helper()
	s.setStatus(t, name, func(st *batchv1.JobStatus) {
		now := metav1.Now()
		if st.StartTime == nil {
			st.StartTime = &now
		}
		st.Active, st.Ready, st.Terminating = 0, ptrTo(int32(0)), ptrTo(int32(0))
		st.Succeeded = n
		if indexed {
			st.CompletedIndexes = fmt.Sprintf("0-%d", n-1)
		}
		st.CompletionTime = &now
		st.Conditions = append(st.Conditions, cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", now), cond(batchv1.JobComplete, "CompletionsReached", now))
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestKubeApply follows a study through the real API server: the
// executor creates a valid training Job and waits while its pods fail and
// succeed; killed mid-wait and run again, it follows the same Job; it
// creates the analyses Job only once the training Job is Complete, and
// returns when that one is.
func TestKubeApply(t *testing.T) {
	c, cfgPath := apiServer(t)
	s := newKubeStudy(t, c, cfgPath)

	// The first executor is a process of its own, to be killed.
	cmd, _, firstLog := losslab(t, s.applyArgs()...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var tr *batchv1.Job
	await(t, "the training job", exited, firstLog, func() bool { tr = s.get(t, s.trainJ); return tr != nil })

	// What the server made of it: the executor's spec, kept, and the
	// server's defaults, filled in.
	if *tr.Spec.Completions != 2 || *tr.Spec.CompletionMode != batchv1.IndexedCompletion || *tr.Spec.BackoffLimitPerIndex != kubernetes.DefaultRetriesPerIndex {
		t.Errorf("training job: completions %d, mode %s, backoffLimitPerIndex %d", *tr.Spec.Completions, *tr.Spec.CompletionMode, *tr.Spec.BackoffLimitPerIndex)
	}
	pod := tr.Spec.Template
	if tr.Spec.Selector == nil || pod.Labels[batchv1.ControllerUidLabel] != string(tr.UID) || pod.Labels[kubernetes.LabelRole] != kubernetes.RoleTrain {
		t.Errorf("the server did not generate the selector and controller labels: selector %v, pod labels %v", tr.Spec.Selector, pod.Labels)
	}
	if pc := pod.Spec.Containers[0]; pc.ImagePullPolicy != corev1.PullIfNotPresent || pc.Command[2] != "run-unit" || pc.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("training container %+v", pc)
	}
	if tr.Annotations[kubernetes.AnnotationPlan] == "" {
		t.Error("the training job lost its plan annotation")
	}

	// Pods start; index 0's fails and is replaced.
	s.setStatus(t, s.trainJ, func(st *batchv1.JobStatus) {
		st.StartTime, st.Active, st.Ready = ptrTo(metav1.Now()), 2, ptrTo(int32(2))
	})
	s.setStatus(t, s.trainJ, func(st *batchv1.JobStatus) { st.Failed = 1 })
	await(t, "the executor to report the failed pod", exited, firstLog, func() bool {
		return strings.Contains(firstLog.String(), "job "+s.trainJ+": 0/2 succeeded, 1 failed, 2 running")
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// A second executor follows the same Job rather than making another.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, stdout, log := s.applyAsync(ctx)
	await(t, "the second executor to follow the job", done, log, func() bool {
		return strings.Contains(log.String(), "job "+s.trainJ+" already exists: following it\njob "+s.trainJ+": 0/2 succeeded, 1 failed, 2 running")
	})
	if j := s.get(t, s.trainJ); j.UID != tr.UID {
		t.Fatal("the training job was made anew after the executor was killed")
	}

	// Index 1 succeeds: still no analyses Job.
	s.setStatus(t, s.trainJ, func(st *batchv1.JobStatus) {
		st.Active, st.Ready, st.Succeeded, st.CompletedIndexes = 1, ptrTo(int32(1)), 1, "1"
	})
	await(t, "the executor to report index 1", done, log, func() bool {
		return strings.Contains(log.String(), "job "+s.trainJ+": 1/2 succeeded, 1 failed, 1 running")
	})
	time.Sleep(300 * time.Millisecond) // a few more polls
	if s.get(t, s.analyses) != nil {
		t.Fatal("the analyses job was created before the training job was complete")
	}

	s.complete(t, s.trainJ, 2, true)
	var an *batchv1.Job
	await(t, "the analyses job", done, log, func() bool { an = s.get(t, s.analyses); return an != nil })
	trDone := s.get(t, s.trainJ).Status.CompletionTime
	if an.CreationTimestamp.Before(trDone) {
		t.Errorf("analyses job created at %v, before the training job completed at %v", an.CreationTimestamp, trDone)
	}
	if c := an.Spec.Template.Spec.Containers[0]; c.Command[2] != "run-plan" || *an.Spec.Completions != 1 || *an.Spec.BackoffLimit != kubernetes.DefaultRetriesPerIndex {
		t.Errorf("analyses job: command %q, completions %d, backoffLimit %d", c.Command, *an.Spec.Completions, *an.Spec.BackoffLimit)
	}
	select {
	case err := <-done:
		t.Fatalf("the executor returned (%v) before the analyses job completed", err)
	case <-time.After(300 * time.Millisecond):
	}
	s.complete(t, s.analyses, 1, false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("executor: %v\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the executor did not return after both jobs completed:\n%s", log)
	}
	for _, w := range []string{"job " + s.trainJ + " complete: 2/2 succeeded, 1 failed", "created job " + s.analyses, "job " + s.analyses + " complete"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
	if !strings.Contains(stdout.String(), "report: ") {
		t.Errorf("stdout %q; want the report's path", stdout)
	}
}

// TestKubeFailedIndexes: a training Job that fails names its failed
// indexes by unit and keeps the analyses from starting; running again
// replaces it (the old one deleted in the background: without a garbage
// collector, any other propagation would leave it being deleted forever).
func TestKubeFailedIndexes(t *testing.T) {
	c, cfgPath := apiServer(t)
	s := newKubeStudy(t, c, cfgPath)
	done, _, log := s.applyAsync(context.Background())
	var tr *batchv1.Job
	await(t, "the training job", done, log, func() bool { tr = s.get(t, s.trainJ); return tr != nil })
	s.setStatus(t, s.trainJ, func(st *batchv1.JobStatus) {
		st.StartTime, st.Active = ptrTo(metav1.Now()), 2
	})
	s.setStatus(t, s.trainJ, func(st *batchv1.JobStatus) {
		now := metav1.Now()
		st.Active, st.Succeeded, st.CompletedIndexes = 0, 1, "0"
		st.Failed, st.FailedIndexes = 3, ptrTo("1")
		st.Conditions = append(st.Conditions, cond(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, now), cond(batchv1.JobFailed, batchv1.JobReasonFailedIndexes, now))
	})
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the executor did not return after the training job failed:\n%s", log)
	}
	tu := s.plan.TrainUnits()
	if err == nil {
		t.Fatal("the executor succeeded with a failed training job")
	}
	for _, w := range []string{s.trainJ + " failed", "failed indexes 1 (units " + tu[1].ID + ")", "the analyses Job was not created"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), tu[0].ID) {
		t.Errorf("error %q names unit 0, which succeeded", err)
	}
	if s.get(t, s.analyses) != nil {
		t.Error("the analyses job was created after training failed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done, _, log = s.applyAsync(ctx)
	await(t, "the failed job to be replaced", done, log, func() bool {
		j := s.get(t, s.trainJ)
		return j != nil && j.UID != tr.UID
	})
	if j := s.get(t, s.trainJ); len(j.Status.Conditions) > 0 || *j.Spec.Completions != 2 {
		t.Errorf("the new training job: conditions %v, completions %d", j.Status.Conditions, *j.Spec.Completions)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("executor after cancel: %v", err)
	}
	if !strings.Contains(log.String(), "failed before: deleting it") {
		t.Errorf("log:\n%s", log)
	}
}

// TestKubeOtherPlan: the manifests losslab writes for kubectl are valid
// Jobs to the server, and the executor refuses a Job of its name made for
// another plan, leaving it alone.
func TestKubeOtherPlan(t *testing.T) {
	c, cfgPath := apiServer(t)
	s := newKubeStudy(t, c, cfgPath)
	tr, an := s.manifests(t)
	if _, err := s.jobs().Create(context.Background(), an, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the server refuses the analyses job of %s: %v", kubernetes.ManifestFile, err)
	}
	tr.Annotations[kubernetes.AnnotationPlan] = "another plan"
	other, err := s.jobs().Create(context.Background(), tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the server refuses the training job of %s: %v", kubernetes.ManifestFile, err)
	}
	err = run(context.Background(), s.applyArgs(), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not made for this plan") || !strings.Contains(err.Error(), "kubectl delete job -n "+s.ns+" "+s.trainJ) {
		t.Errorf("executor over a job of another plan: %v", err)
	}
	if j := s.get(t, s.trainJ); j.UID != other.UID || j.Annotations[kubernetes.AnnotationPlan] != "another plan" {
		t.Error("the executor changed or replaced the other plan's job")
	}
	if s.get(t, s.analyses) != nil {
		t.Error("the executor created the analyses job beside another plan's training job")
	}
}

// TestKubeLongName: a study with a long name and more than 100 training
// units still gets a training Job the server accepts: the job controller
// names each pod JOBNAME-INDEX, which must be a DNS label too.
func TestKubeLongName(t *testing.T) {
	c, cfgPath := apiServer(t)
	ns := namespace(t, c)
	mount := t.TempDir()
	seeds := make([]string, 101)
	for i := range seeds {
		seeds[i] = fmt.Sprint(i + 1)
	}
	spec := filepath.Join(t.TempDir(), "long.yaml")
	body := `name: studywithanamelongenoughtofillthewholejobnameprefix
dataset: mnist
model: mlp
recipe: {epochs: 1, train_limit: 256, test_limit: 128, threads: 1}
holdout: 100
objectives: [{name: softmax}]
seeds: [` + strings.Join(seeds, ", ") + `]
analyses: [calibration]
`
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &outBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"study", "--executor", "kubernetes", "--apply", "--image", "example.invalid/losslab:1", "--pvc", "studies",
			"--mount", mount, "--out", filepath.Join(mount, "study"), "--namespace", ns, "--kubeconfig", cfgPath, "--poll", kubeTestPoll, spec}, &outBuffer{}, log)
	}()
	var jobs *batchv1.JobList
	await(t, "the training job", done, log, func() bool {
		var err error
		jobs, err = c.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs.Items) > 0
	})
	j := jobs.Items[0]
	if pod := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1); *j.Spec.Completions != 101 || len(pod) > 63 {
		t.Errorf("job %s: %d completions, last pod %s (%d characters)", j.Name, *j.Spec.Completions, pod, len(pod))
	}
	cancel()
	<-done
}
