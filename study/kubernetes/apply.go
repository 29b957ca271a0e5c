package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchclient "k8s.io/client-go/kubernetes/typed/batch/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/losslab/losslab/study"
)

// Client connects to a cluster. An explicit kubeconfig file wins, since
// asking for one means wanting it; with kubeconfig "" it uses the
// in-cluster service account when running in a pod, else the usual
// kubeconfig ($KUBECONFIG, or ~/.kube/config) and its current context.
func Client(kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil && !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("kubernetes: in-cluster config: %w", err)
		}
	}
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfig
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: not in a cluster, and no usable kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config): %w", err)
		}
	}
	return kubernetes.NewForConfig(cfg)
}

// Apply runs plan p (already saved in dir, which the pods see on the PVC)
// on the cluster: it creates the training Job, waits until it is Complete,
// then creates the analyses Job and waits for it, writing progress lines
// to log (nil discards them).
//
// Running Apply again with the same plan resumes. A Job that already
// exists under the same name is followed rather than duplicated (the
// finished units stay finished either way); one that has Failed is deleted
// and created again, which retries exactly the unfinished units. If the
// training Job fails, the analyses Job is not created and the error names
// the failed indexes and their units. Cancelling ctx stops the waiting,
// not the Jobs.
func Apply(ctx context.Context, client kubernetes.Interface, p *study.Plan, dir, store string, o Options, log io.Writer) error {
	r, err := o.resolve(p, dir, store)
	if err != nil {
		return err
	}
	if log == nil {
		log = io.Discard
	}
	units := p.TrainUnits()
	jobs := client.BatchV1().Jobs(r.Namespace)
	if err := r.run(ctx, jobs, r.trainJob(len(units)), units, log); err != nil {
		return err
	}
	return r.run(ctx, jobs, r.analysesJob(), nil, log)
}

// run makes sure want exists (ensure) and waits until it is Complete;
// units are the training units by index, to name failed ones.
func (r *resolved) run(ctx context.Context, jobs batchclient.JobInterface, want *batchv1.Job, units []study.Unit, log io.Writer) error {
	j, err := r.ensure(ctx, jobs, want, log)
	if err != nil {
		return err
	}
	last := ""
	for {
		if hasCondition(j, batchv1.JobComplete) {
			fmt.Fprintf(log, "job %s complete: %s\n", j.Name, counts(j))
			return nil
		}
		if c := condition(j, batchv1.JobFailed); c != nil {
			return r.failure(j, c, units)
		}
		if line := counts(j); line != last {
			fmt.Fprintf(log, "job %s: %s\n", j.Name, line)
			last = line
		}
		if err := sleep(ctx, r.Poll); err != nil {
			return fmt.Errorf("waiting for job %s (it keeps running; run the same command again to follow it): %w", want.Name, err)
		}
		j, err = jobs.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("job %s was deleted while losslab waited for it; run the same command again to create it anew (finished units are kept)", want.Name)
		}
		if err != nil {
			return fmt.Errorf("job %s: %w", want.Name, err)
		}
	}
}

// ensure returns the Job named like want: the existing one if it is
// running or complete (resume), else want, created (deleting a Failed one
// first: a Job that has failed never runs again).
func (r *resolved) ensure(ctx context.Context, jobs batchclient.JobInterface, want *batchv1.Job, log io.Writer) (*batchv1.Job, error) {
	for {
		j, err := jobs.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			j, err = jobs.Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // made meanwhile, e.g. by a second losslab: follow it
			}
			if err != nil {
				return nil, fmt.Errorf("creating job %s in namespace %s: %w", want.Name, r.Namespace, err)
			}
			fmt.Fprintf(log, "created job %s in namespace %s: %s\n", j.Name, r.Namespace, describe(j))
			return j, nil
		}
		if err != nil {
			return nil, fmt.Errorf("job %s in namespace %s: %w", want.Name, r.Namespace, err)
		}
		if h := j.Annotations[AnnotationPlan]; h != r.hash {
			return nil, fmt.Errorf("job %s in namespace %s exists but was not made for this plan, folder and store (annotation %s %q, want %q); delete it (kubectl delete job -n %s %s) or give the Jobs another name",
				j.Name, r.Namespace, AnnotationPlan, h, r.hash, r.Namespace, j.Name)
		}
		if !hasCondition(j, batchv1.JobFailed) {
			fmt.Fprintf(log, "job %s already exists: following it\n", j.Name)
			if got := image(j); got != r.Image {
				fmt.Fprintf(log, "note: job %s runs image %s, not %s; delete it to use the new image\n", j.Name, got, r.Image)
			}
			return j, nil
		}
		fmt.Fprintf(log, "job %s failed before: deleting it to run it again (finished units are kept)\n", j.Name)
		if err := r.remove(ctx, jobs, j); err != nil {
			return nil, err
		}
	}
}

// remove deletes j and waits until it is gone, since a Job of the same name
// cannot be created before. Its pods go in the background: a failed Job's
// pods have already stopped.
func (r *resolved) remove(ctx context.Context, jobs batchclient.JobInterface, j *batchv1.Job) error {
	err := jobs.Delete(ctx, j.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr(metav1.DeletePropagationBackground),
		// Only this Job: not one another process made meanwhile.
		Preconditions: &metav1.Preconditions{UID: &j.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting failed job %s: %w", j.Name, err)
	}
	for {
		cur, err := jobs.Get(ctx, j.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && cur.UID != j.UID {
			return nil
		}
		if err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
		if err := sleep(ctx, r.Poll); err != nil {
			return fmt.Errorf("waiting for failed job %s to be deleted: %w", j.Name, err)
		}
	}
}

// failure is the error for a Failed Job.
func (r *resolved) failure(j *batchv1.Job, c *batchv1.JobCondition, units []study.Unit) error {
	why := c.Reason
	if c.Message != "" {
		why += ": " + c.Message
	}
	var b strings.Builder
	fmt.Fprintf(&b, "job %s failed (%s)", j.Name, why)
	if units != nil {
		switch {
		case j.Status.FailedIndexes == nil:
			b.WriteString("; the cluster reports no failed indexes (backoffLimitPerIndex needs Kubernetes 1.29 or later)")
		case *j.Status.FailedIndexes == "":
			b.WriteString("; no index failed")
		default:
			idx := parseIndexes(*j.Status.FailedIndexes)
			var names []string
			for _, i := range idx {
				if i >= 0 && i < len(units) {
					names = append(names, units[i].ID)
				}
			}
			fmt.Fprintf(&b, "; failed indexes %s (units %s)", *j.Status.FailedIndexes, strings.Join(names, ", "))
			if len(idx) > 0 {
				fmt.Fprintf(&b, "; logs: kubectl logs -n %s -l batch.kubernetes.io/job-name=%s,batch.kubernetes.io/job-completion-index=%d",
					r.Namespace, j.Name, idx[0])
			}
		}
		b.WriteString("; the analyses Job was not created")
	} else {
		fmt.Fprintf(&b, "; logs: kubectl logs -n %s job/%s", r.Namespace, j.Name)
	}
	b.WriteString(". Finished units are kept: run the same command again to retry the rest")
	return errors.New(b.String())
}

// parseIndexes reads a Job status index list such as "1,3-5,7".
func parseIndexes(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType) bool { return condition(j, t) != nil }

// counts is a Job's progress: completions succeeded, pods failed (retried
// ones included) and running.
func counts(j *batchv1.Job) string {
	n := int32(1)
	if j.Spec.Completions != nil {
		n = *j.Spec.Completions
	}
	return fmt.Sprintf("%d/%d succeeded, %d failed, %d running", j.Status.Succeeded, n, j.Status.Failed, j.Status.Active)
}

// describe is a created Job's shape, for the log.
func describe(j *batchv1.Job) string {
	s := fmt.Sprintf("image %s", image(j))
	if j.Spec.Completions != nil && j.Spec.Parallelism != nil {
		s = fmt.Sprintf("%d pods, %d at once, %s", *j.Spec.Completions, *j.Spec.Parallelism, s)
	}
	return s
}

func image(j *batchv1.Job) string {
	if cs := j.Spec.Template.Spec.Containers; len(cs) > 0 {
		return cs[0].Image
	}
	return ""
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
