package kubernetes

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/losslab/losslab/study"
)

// Apply is tested against a real API server, which validates what it
// creates and the statuses it reads (cmd/losslab's
// study_kubernetes_apiserver_test.go, under the kubernetes build tag).
// What stays here needs a fake clientset: its record of every request,
// and answers in an order a real server gives only in a race.

func fastOptions() Options {
	o := baseOptions()
	o.Poll = time.Millisecond
	return o
}

// completeJobs are plan p's two Jobs, both Complete.
func completeJobs(t *testing.T, p *study.Plan) (train, analyses *batchv1.Job) {
	t.Helper()
	tr, an, err := Manifests(p, dir, store, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []*batchv1.Job{tr, an} {
		j.UID = types.UID("uid-" + j.Name)
		j.Status.Succeeded = *j.Spec.Completions
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	}
	return tr, an
}

// Running a finished study again only reads: it creates, changes and
// deletes nothing.
func TestApplyFinishedStudyOnlyReads(t *testing.T) {
	p := smallPlan(t)
	tr, an := completeJobs(t, p)
	c := fake.NewClientset(tr, an)
	if err := Apply(context.Background(), c, p, dir, store, fastOptions(), nil); err != nil {
		t.Fatal(err)
	}
	if len(c.Actions()) == 0 {
		t.Fatal("Apply did not look at the cluster")
	}
	for _, a := range c.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("Apply on a finished study did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// A Job made by another losslab between Apply's look and its create (the
// create answers AlreadyExists) is followed, not an error.
func TestApplyCreateRace(t *testing.T) {
	p := smallPlan(t)
	tr, an := completeJobs(t, p)
	c := fake.NewClientset(tr, an)
	first := true
	c.PrependReactor("get", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if g := a.(k8stesting.GetAction); first && g.GetName() == tr.Name {
			first = false
			return true, nil, apierrors.NewNotFound(batchv1.Resource("jobs"), tr.Name)
		}
		return false, nil, nil
	})
	var log strings.Builder
	if err := Apply(context.Background(), c, p, dir, store, fastOptions(), &log); err != nil {
		t.Fatalf("Apply after losing the race to create: %v", err)
	}
	creates := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "create" {
			creates++
		}
	}
	if creates != 1 || !strings.Contains(log.String(), "job "+tr.Name+" already exists: following it") {
		t.Errorf("%d creates; log:\n%s\nwant the one refused create, then the existing job followed", creates, log.String())
	}
	j, err := c.BatchV1().Jobs(DefaultNamespace).Get(context.Background(), tr.Name, metav1.GetOptions{})
	if err != nil || j.UID != tr.UID {
		t.Errorf("training job %v, %v; want the one the other losslab made", j, err)
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
