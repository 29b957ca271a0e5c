package kubernetes

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/losslab/losslab/study"
)

// The fake clientset runs no Job controller: these tests play it, setting
// the Jobs' status themselves while Apply polls.

// syncLog is a log Apply writes from its goroutine while the test reads.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func fastOptions() Options {
	o := baseOptions()
	o.Poll = time.Millisecond
	return o
}

// names are the two Jobs' names for plan p under fastOptions.
func names(t *testing.T, p *study.Plan) (train, analyses string) {
	t.Helper()
	tr, an, err := Manifests(p, dir, store, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	return tr.Name, an.Name
}

// applyAsync starts Apply and returns its result channel.
func applyAsync(ctx context.Context, c *fake.Clientset, p *study.Plan, log *syncLog) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Apply(ctx, c, p, dir, store, fastOptions(), log) }()
	return done
}

// waitJob polls the fake until Job name exists, failing the test if Apply
// returns first or a second passes.
func waitJob(t *testing.T, c *fake.Clientset, name string, done <-chan error) *batchv1.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		j, err := c.BatchV1().Jobs(DefaultNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			return j
		}
		if !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("Apply returned %v before job %s existed", err, name)
		case <-time.After(time.Millisecond):
		}
	}
	t.Fatalf("job %s never created", name)
	return nil
}

func exists(t *testing.T, c *fake.Clientset, name string) bool {
	t.Helper()
	_, err := c.BatchV1().Jobs(DefaultNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// setStatus plays the Job controller: it gives Job name a terminal
// condition and counts.
func setStatus(t *testing.T, c *fake.Clientset, name string, cond batchv1.JobConditionType, succeeded, failed int32, failedIndexes *string) {
	t.Helper()
	jobs := c.BatchV1().Jobs(DefaultNamespace)
	j, err := jobs.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Status.Succeeded, j.Status.Failed, j.Status.FailedIndexes = succeeded, failed, failedIndexes
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, Reason: "Test", Message: "set by the test"})
	if _, err := jobs.UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Apply did not return")
		return nil
	}
}

// creates counts the create actions on Job name.
func creates(c *fake.Clientset, name string) int {
	n := 0
	for _, a := range c.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok && a.GetVerb() == "create" && a.GetResource().Resource == "jobs" {
			if j, ok := ca.GetObject().(*batchv1.Job); ok && j.Name == name {
				n++
			}
		}
	}
	return n
}

func TestApplyWaitsForTraining(t *testing.T) {
	p := smallPlan(t)
	trName, anName := names(t, p)
	c := fake.NewClientset()
	log := &syncLog{}
	done := applyAsync(context.Background(), c, p, log)

	tr := waitJob(t, c, trName, done)
	if *tr.Spec.Completions != int32(len(p.TrainUnits())) || tr.Spec.CompletionMode == nil {
		t.Errorf("created training job: %d completions, mode %v", *tr.Spec.Completions, tr.Spec.CompletionMode)
	}
	// Many polls later, with the training Job still running, there must
	// be no analyses Job yet.
	time.Sleep(50 * time.Millisecond)
	if exists(t, c, anName) {
		t.Fatal("the analyses job was created before the training job completed")
	}
	select {
	case err := <-done:
		t.Fatalf("Apply returned %v while the training job ran", err)
	default:
	}

	setStatus(t, c, trName, batchv1.JobComplete, 3, 1, nil)
	an := waitJob(t, c, anName, done)
	if an.Spec.Template.Spec.Containers[0].Command[2] != "run-plan" {
		t.Errorf("analyses job runs %q", an.Spec.Template.Spec.Containers[0].Command)
	}
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Apply returned %v before the analyses job completed", err)
	default:
	}
	setStatus(t, c, anName, batchv1.JobComplete, 1, 0, nil)
	if err := result(t, done); err != nil {
		t.Fatalf("Apply: %v\n%s", err, log.String())
	}
	out := log.String()
	for _, w := range []string{"created job " + trName, "job " + trName + " complete: 3/3 succeeded, 1 failed", "created job " + anName, "job " + anName + " complete"} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
	if creates(c, trName) != 1 || creates(c, anName) != 1 {
		t.Errorf("created the training job %d times and the analyses job %d times; want once each", creates(c, trName), creates(c, anName))
	}
}

func TestApplyTrainingFailed(t *testing.T) {
	p := smallPlan(t)
	trName, anName := names(t, p)
	c := fake.NewClientset()
	done := applyAsync(context.Background(), c, p, &syncLog{})
	waitJob(t, c, trName, done)
	setStatus(t, c, trName, batchv1.JobFailed, 1, 6, ptr("0,2"))
	err := result(t, done)
	if err == nil {
		t.Fatal("Apply succeeded on a failed training job")
	}
	tu := p.TrainUnits()
	for _, w := range []string{trName, "failed indexes 0,2", tu[0].ID, tu[2].ID, "run the same command again"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), tu[1].ID) {
		t.Errorf("error %q names unit 1, which did not fail", err)
	}
	if exists(t, c, anName) {
		t.Error("the analyses job was created although training failed")
	}
}

// TestApplyResume: a training Job that exists (running, from an earlier
// Apply) is followed, not created again; a Failed one is replaced.
func TestApplyResume(t *testing.T) {
	p := smallPlan(t)
	tr, _, err := Manifests(p, dir, store, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr.UID = "first"
	tr.Status.Succeeded = 2
	c := fake.NewClientset(tr)
	log := &syncLog{}
	done := applyAsync(context.Background(), c, p, log)
	time.Sleep(20 * time.Millisecond)
	setStatus(t, c, tr.Name, batchv1.JobComplete, 3, 0, nil)
	an := waitJob(t, c, tr.Name[:len(tr.Name)-len("train")]+"analyses", done)
	setStatus(t, c, an.Name, batchv1.JobComplete, 1, 0, nil)
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if n := creates(c, tr.Name); n != 0 {
		t.Errorf("the existing training job was created again %d times", n)
	}
	list, err := c.BatchV1().Jobs(DefaultNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: LabelRole + "=" + RoleTrain})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].UID != "first" {
		t.Errorf("%d training jobs after resume; want the one that was there", len(list.Items))
	}
	if !strings.Contains(log.String(), "job "+tr.Name+" already exists: following it\njob "+tr.Name+": 2/3 succeeded") {
		t.Errorf("log does not report following the existing job:\n%s", log.String())
	}

	// Both Jobs complete: running again does nothing but report.
	before := len(c.Actions())
	if err := Apply(context.Background(), c, p, dir, store, fastOptions(), nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Actions()[before:] {
		if a.GetVerb() != "get" {
			t.Errorf("Apply on a finished study did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestApplyReplacesFailedJob(t *testing.T) {
	p := smallPlan(t)
	tr, _, err := Manifests(p, dir, store, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr.UID = "old"
	tr.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "FailedIndexes"}}
	c := fake.NewClientset(tr)
	log := &syncLog{}
	done := applyAsync(context.Background(), c, p, log)
	// The new Job has no Failed condition (and not the old uid).
	var j *batchv1.Job
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if j = waitJob(t, c, tr.Name, done); !hasCondition(j, batchv1.JobFailed) {
			break
		}
	}
	if hasCondition(j, batchv1.JobFailed) {
		t.Fatal("the failed job was not replaced")
	}
	var deleted bool
	for _, a := range c.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetName() == tr.Name {
			deleted = true
			if pp := d.GetDeleteOptions().PropagationPolicy; pp == nil || *pp != metav1.DeletePropagationBackground {
				t.Errorf("deleted with propagation %v; want Background", pp)
			}
		}
	}
	if !deleted || creates(c, tr.Name) != 1 {
		t.Errorf("deleted %v, created %d times; want the failed job deleted and created once", deleted, creates(c, tr.Name))
	}
	if !strings.Contains(log.String(), "failed before: deleting it") {
		t.Errorf("log:\n%s", log.String())
	}
	setStatus(t, c, tr.Name, batchv1.JobComplete, 3, 0, nil)
	an := waitJob(t, c, tr.Labels[LabelStudy]+"-analyses", done)
	setStatus(t, c, an.Name, batchv1.JobComplete, 1, 0, nil)
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestApplyRefusesOtherPlan(t *testing.T) {
	p := smallPlan(t)
	tr, _, err := Manifests(p, dir, store, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr.Annotations[AnnotationPlan] = "another"
	c := fake.NewClientset(tr)
	err = Apply(context.Background(), c, p, dir, store, fastOptions(), nil)
	if err == nil || !strings.Contains(err.Error(), "not made for this plan") || !strings.Contains(err.Error(), "kubectl delete job") {
		t.Errorf("Apply over a job of another plan: %v", err)
	}
}

func TestApplyCancel(t *testing.T) {
	p := smallPlan(t)
	trName, _ := names(t, p)
	c := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	done := applyAsync(ctx, c, p, &syncLog{})
	waitJob(t, c, trName, done)
	cancel()
	if err := result(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply after cancel: %v; want context.Canceled", err)
	}
}

func TestApplyChecksOptions(t *testing.T) {
	o := fastOptions()
	o.Image = ""
	c := fake.NewClientset()
	if err := Apply(context.Background(), c, smallPlan(t), dir, store, o, nil); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("Apply without an image: %v", err)
	}
	if len(c.Actions()) != 0 {
		t.Errorf("Apply with bad options called the cluster: %v", c.Actions())
	}
}

func TestParseIndexes(t *testing.T) {
	got := parseIndexes("1,3-5,9")
	want := []int{1, 3, 4, 5, 9}
	if len(got) != len(want) {
		t.Fatalf("parseIndexes = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseIndexes = %v; want %v", got, want)
		}
	}
}
