package kubernetes

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/losslab/losslab/study"
)

// ManifestFile is the name of the file the command line writes the
// manifests to, in the study folder.
const ManifestFile = "kubernetes.yaml"

// IndexEnv is the variable Kubernetes sets to a pod's completion index in
// an Indexed Job; 'losslab study run-unit' reads it when --index is not
// given, so the command needs no shell to expand it.
const IndexEnv = "JOB_COMPLETION_INDEX"

// exitUsage is losslab's exit code for a usage or configuration error: the
// same pod would fail the same way again, so it is not retried.
const exitUsage = 2

// Manifests returns the two Jobs that run plan p, whose folder is dir and
// store is store (both as the pods see them, under o.MountPath; store ""
// means dir/units).
//
// The training Job is an Indexed Job with one index per training unit,
// finished or not: run-unit returns at once for a finished unit, so the
// same Job (and name) serves a fresh run and every resume. The analyses
// Job runs the rest of the plan and the report once; it must be created
// only after the training Job is Complete.
func Manifests(p *study.Plan, dir, store string, o Options) (train, analyses *batchv1.Job, err error) {
	r, err := o.resolve(p, dir, store)
	if err != nil {
		return nil, nil, err
	}
	return r.trainJob(len(p.TrainUnits())), r.analysesJob(), nil
}

// labels are the labels of role's Job and pods.
func (r *resolved) labels(role string) map[string]string {
	return map[string]string{LabelApp: "losslab", LabelStudy: r.Name, LabelRole: role}
}

// job is the part both Jobs share: metadata, and a pod that runs losslab
// study SUB --out DIR --store STORE with the PVC mounted.
func (r *resolved) job(name, role, sub string) *batchv1.Job {
	res := corev1.ResourceRequirements{}
	if r.CPU != "" {
		res.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(r.CPU)}
	}
	if r.Memory != "" {
		m := resource.MustParse(r.Memory)
		if res.Requests == nil {
			res.Requests = corev1.ResourceList{}
		}
		res.Requests[corev1.ResourceMemory] = m
		res.Limits = corev1.ResourceList{corev1.ResourceMemory: m}
	}
	const volume = "study"
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.Namespace, Labels: r.labels(role),
			Annotations: map[string]string{AnnotationPlan: r.hash, AnnotationStudy: r.study},
		},
		Spec: batchv1.JobSpec{
			// A replacement pod starts only once the failed one has
			// stopped, so two processes never write one unit's folder at
			// once (and podFailurePolicy requires it).
			PodReplacementPolicy: ptr(batchv1.Failed),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.labels(role)},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: r.ServiceAccount,
					Containers: []corev1.Container{{
						Name:         ContainerName,
						Image:        r.Image,
						Command:      []string{r.Binary, "study", sub, "--out", r.dir, "--store", r.store},
						Resources:    res,
						VolumeMounts: []corev1.VolumeMount{{Name: volume, MountPath: r.MountPath}},
					}},
					Volumes: []corev1.Volume{{
						Name:         volume,
						VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: r.PVC}},
					}},
				},
			},
		},
	}
}

// failurePolicy ignores pods killed by a disruption (eviction,
// preemption, node drain: losslab saved its checkpoint on SIGTERM, so
// such a pod costs no retry) and gives up at once on exit code 2, a usage
// or configuration error that a retry would repeat, with onExit2.
func failurePolicy(onExit2 batchv1.PodFailurePolicyAction) *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
		},
		{
			Action: onExit2,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr(ContainerName), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{exitUsage},
			},
		},
	}}
}

func (r *resolved) trainJob(units int) *batchv1.Job {
	j := r.job(r.train, RoleTrain, "run-unit")
	j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr(int32(units))
	j.Spec.Parallelism = ptr(int32(r.Parallelism))
	// Retries are per unit, and maxFailedIndexes is unset: one unit that
	// keeps failing must not stop the others, which the next run then
	// need not redo.
	j.Spec.BackoffLimitPerIndex = ptr(r.retries)
	j.Spec.PodFailurePolicy = failurePolicy(batchv1.PodFailurePolicyActionFailIndex)
	return j
}

func (r *resolved) analysesJob() *batchv1.Job {
	j := r.job(r.analyses, RoleAnalyses, "run-plan")
	j.Spec.Completions = ptr(int32(1))
	j.Spec.Parallelism = ptr(int32(1))
	j.Spec.BackoffLimit = ptr(r.retries)
	j.Spec.PodFailurePolicy = failurePolicy(batchv1.PodFailurePolicyActionFailJob)
	return j
}

// Commands are the kubectl commands that run the two Jobs from file (the
// output of WriteManifests) in order: apply the training Job, wait until
// it is complete, apply the analyses Job, wait. Applying with a label
// selector picks one Job out of the file.
func Commands(file string, train, analyses *batchv1.Job) []string {
	ns := shellWord(train.Namespace)
	f := shellWord(file)
	var cmds []string
	for _, j := range []*batchv1.Job{train, analyses} {
		cmds = append(cmds,
			fmt.Sprintf("kubectl apply -n %s -f %s -l %s=%s", ns, f, LabelRole, j.Labels[LabelRole]),
			// --timeout=-1s waits a week; the default is 30 s.
			fmt.Sprintf("kubectl wait -n %s --for=condition=complete --timeout=-1s job/%s", ns, j.Name))
	}
	return cmds
}

// shellWord quotes w for sh when it holds anything but safe characters.
func shellWord(w string) string {
	if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// WriteManifests writes train and analyses (from Manifests) to w as one
// multi-document YAML file, after a comment saying how to apply it: the
// order matters, and one 'kubectl apply -f' of the whole file would start
// the analyses at once. The output depends only on its arguments.
func WriteManifests(w io.Writer, train, analyses *batchv1.Job) error {
	var b bytes.Buffer
	pod := train.Spec.Template.Spec
	c := pod.Containers[0]
	fmt.Fprintf(&b, "# losslab study %q: %d training units, then the analyses and report,\n", train.Annotations[AnnotationStudy], *train.Spec.Completions)
	fmt.Fprintf(&b, "# as two Kubernetes Jobs labelled %s=%s:\n", LabelStudy, train.Labels[LabelStudy])
	w1 := len(analyses.Name)
	fmt.Fprintf(&b, "#   %-*s  an Indexed Job, a pod per training unit\n", w1, train.Name)
	fmt.Fprintf(&b, "#   %-*s  one pod: the rest of the plan and the report\n", w1, analyses.Name)
	b.WriteString("#\n# Kubernetes has no dependencies between Jobs: apply the training Job, wait\n")
	b.WriteString("# until it is complete, and only then apply the analyses Job:\n#\n")
	for _, cmd := range Commands(ManifestFile, train, analyses) {
		fmt.Fprintf(&b, "#   %s\n", cmd)
	}
	fmt.Fprintf(&b, "#\n# The pods see the study through the PersistentVolumeClaim %s, mounted\n", pod.Volumes[0].PersistentVolumeClaim.ClaimName)
	fmt.Fprintf(&b, "# at %s; the study's plan.json must be in %s before the Jobs start.\n", c.VolumeMounts[0].MountPath, argAfter(c.Command, "--out"))
	b.WriteString("# Each training pod runs the unit numbered by its JOB_COMPLETION_INDEX, and\n")
	b.WriteString("# a finished unit is skipped, so applying again resumes. If the training Job\n")
	b.WriteString("# fails ('kubectl describe job' lists its failed indexes), delete it and run\n")
	b.WriteString("# the commands again: finished units are kept and only the others run.\n#\n")
	fmt.Fprintf(&b, "#   kubectl delete job -n %s %s\n", shellWord(train.Namespace), train.Name)
	for _, j := range []*batchv1.Job{train, analyses} {
		y, err := yaml.Marshal(j)
		if err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// argAfter is the word after flag in cmd ("" if none).
func argAfter(cmd []string, flag string) string {
	for i, w := range cmd[:max(len(cmd)-1, 0)] {
		if w == flag {
			return cmd[i+1]
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
