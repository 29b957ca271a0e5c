// Package kubernetes runs a study on a Kubernetes cluster: the Kubernetes
// counterpart of the Slurm executor (study.RunSlurm).
//
// A study becomes two Jobs. The training Job is an Indexed Job with one
// completion index per training unit of the plan; each pod runs
// 'losslab study run-unit', which reads its index from the
// JOB_COMPLETION_INDEX variable Kubernetes sets in Indexed Job pods. The
// analyses Job runs 'losslab study run-plan' once: the evaluation,
// transfer, robustness and CKA units and the report. Kubernetes has no
// dependencies between Jobs, so the analyses Job is created only after the
// training Job is Complete, by Apply or by hand (WriteManifests explains
// the kubectl commands).
//
// Both Jobs mount one PersistentVolumeClaim holding the study folder and
// the unit store: the pods share results only through it, as Slurm tasks
// share a filesystem. Per-index retries (backoffLimitPerIndex) need
// Kubernetes 1.29 or later.
//
// The package lives apart from package study so that programs using study
// do not link client-go.
package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/losslab/losslab/study"
)

// Defaults of Options' optional fields.
const (
	DefaultBinary          = "losslab"
	DefaultNamespace       = "default"
	DefaultRetriesPerIndex = 2
	// DefaultMaxParallelism caps the default parallelism: enough to use a
	// small cluster, few enough not to flood a shared one unasked.
	DefaultMaxParallelism = 8
	DefaultPoll           = 5 * time.Second
)

// Names of the labels every object carries, so that a study's Jobs and
// pods can be selected (kubectl get pods -l losslab/study=NAME) and the
// two Jobs applied one at a time from one file (-l losslab/role=train).
const (
	LabelApp   = "app.kubernetes.io/name"
	LabelStudy = "losslab/study"
	LabelRole  = "losslab/role"
	// AnnotationPlan holds the hash of the plan, folder and store the Job
	// was made for; Apply refuses to reuse a Job with another one.
	AnnotationPlan = "losslab/plan"
	// AnnotationStudy holds the study's own name (the spec's), which the
	// Job names can only abbreviate.
	AnnotationStudy = "losslab/study-name"
)

// Roles, the values of LabelRole.
const (
	RoleTrain    = "train"
	RoleAnalyses = "analyses"
)

// ContainerName is the name of the one container of every pod.
const ContainerName = "losslab"

// maxPrefix is the longest name prefix: Job names must be DNS-1123 labels
// (at most 63 characters, because they become the pods' job-name label),
// and the longest suffix is "-analyses".
const maxPrefix = 63 - len("-"+RoleAnalyses)

// prefixLimit is the longest name prefix for a plan of units training
// units: the job controller names the training pods NAME-train-INDEX, and
// the API server refuses an Indexed Job whose last pod name would not be
// a DNS-1123 label (from 101 units on, the index outgrows "-analyses").
func prefixLimit(units int) int {
	return min(maxPrefix, 63-len("-"+RoleTrain+"-"+strconv.Itoa(max(units-1, 0))))
}

// Options configure the Kubernetes executor. Image, PVC and MountPath are
// required; the rest have defaults.
type Options struct {
	// Image is the container image holding the losslab binary. It should
	// be the same build as the one planning the study: the pods read the
	// plan it wrote.
	Image string
	// Binary is the path of losslab inside the image (default "losslab",
	// found on the image's PATH).
	Binary string
	// Namespace is where the Jobs are created (default "default").
	Namespace string
	// PVC names the PersistentVolumeClaim holding the study folder and the
	// store. Pods of the training Job run on any node at once, so it needs
	// an access mode that allows that (ReadWriteMany), unless all pods
	// land on one node.
	PVC string
	// MountPath is where the PVC is mounted in the pods, e.g. /data. The
	// study folder and the store must be absolute paths under it, and the
	// same paths must reach the PVC wherever plan.json is written.
	MountPath string
	// Parallelism is the number of training pods running at once (default
	// min(training units, DefaultMaxParallelism)).
	Parallelism int
	// RetriesPerIndex is the training Job's backoffLimitPerIndex: how many
	// times one unit's pod is retried before its index counts as failed;
	// it is also the analyses Job's backoffLimit. nil means
	// DefaultRetriesPerIndex (a pointer so that 0, no retries, can be
	// asked for).
	RetriesPerIndex *int32
	// CPU and Memory are each pod's resource requests, as Kubernetes
	// quantities ("2", "500m", "4Gi"); "" requests nothing. Memory is also
	// the limit, so that a pod that outgrows it is killed rather than
	// starve its neighbours; CPU has no limit, so idle cores are used.
	CPU, Memory string
	// ServiceAccount, if set, is the pods' service account.
	ServiceAccount string
	// Name is the prefix of the Jobs' names (NAME-train, NAME-analyses)
	// and the value of the losslab/study label: a DNS-1123 label of at most
	// 54 characters, and short enough that the last training pod's name,
	// NAME-train-INDEX, fits in 63 (53 from 101 training units on). The default, "losslab-" + the study's name + a hash
	// of its plan, folder and store, is the same for the same plan, so that
	// running again finds the Jobs already made (resume), and differs for
	// a different plan.
	Name string
	// Poll is the interval between looks at the Jobs' status in Apply
	// (default DefaultPoll).
	Poll time.Duration
}

// Check reports what is wrong with o for a study in folder dir with store
// store (both as the pods see them; store "" means dir/units, as in
// study.Options), naming the command-line flag of each problem; nil if
// nothing is.
func (o Options) Check(dir, store string) error {
	store = storeOf(dir, store)
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Image == "" {
		bad("no container image (--image): the pods need an image holding the losslab binary")
	}
	if o.PVC == "" {
		bad("no PersistentVolumeClaim (--pvc): the pods share the study folder through it")
	} else if msgs := validation.IsDNS1123Subdomain(o.PVC); len(msgs) > 0 {
		bad("--pvc %q is not a valid claim name: %s", o.PVC, strings.Join(msgs, "; "))
	}
	mount := o.MountPath
	switch {
	case mount == "":
		bad("no mount path (--mount): where the PVC is mounted in the pods, e.g. /data")
	case !path.IsAbs(mount):
		bad("--mount %q is not an absolute path", mount)
	default:
		mount = path.Clean(mount)
		for _, f := range []struct{ flag, p string }{{"--out", dir}, {"--store", store}} {
			if !under(f.p, mount) {
				bad("%s %q is not an absolute path under --mount %s: the pods see only the PVC mounted there", f.flag, f.p, mount)
			}
		}
	}
	if o.Namespace != "" {
		if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
			bad("--namespace %q is not a valid namespace: %s", o.Namespace, strings.Join(msgs, "; "))
		}
	}
	if o.Name != "" {
		if msgs := validation.IsDNS1123Label(o.Name); len(msgs) > 0 || len(o.Name) > maxPrefix {
			if len(o.Name) > maxPrefix {
				msgs = append(msgs, fmt.Sprintf("must be at most %d characters, so that %s-%s fits in 63", maxPrefix, o.Name, RoleAnalyses))
			}
			bad("job name prefix %q is not a valid DNS-1123 label: %s", o.Name, strings.Join(msgs, "; "))
		}
	}
	if o.ServiceAccount != "" {
		if msgs := validation.IsDNS1123Subdomain(o.ServiceAccount); len(msgs) > 0 {
			bad("service account %q is not a valid name: %s", o.ServiceAccount, strings.Join(msgs, "; "))
		}
	}
	if o.Parallelism < 0 {
		bad("--parallelism %d: want at least 1 (0 means the default)", o.Parallelism)
	}
	if o.RetriesPerIndex != nil && *o.RetriesPerIndex < 0 {
		bad("--retries %d: want 0 or more", *o.RetriesPerIndex)
	}
	for _, q := range []struct{ flag, v string }{{"--cpu", o.CPU}, {"--memory", o.Memory}} {
		if q.v == "" {
			continue
		}
		if v, err := resource.ParseQuantity(q.v); err != nil {
			bad("%s %q: %v (want a Kubernetes quantity such as 2, 500m or 4Gi)", q.flag, q.v, err)
		} else if v.Sign() <= 0 {
			bad("%s %q: want a positive quantity", q.flag, q.v)
		}
	}
	if o.Poll < 0 {
		bad("--poll %v is negative: want the interval between looks at the Jobs (0 means the default)", o.Poll)
	}
	return errors.Join(errs...)
}

// storeOf is the store of a study in dir: store, or dir/units if "".
func storeOf(dir, store string) string {
	if store == "" {
		return path.Join(dir, "units")
	}
	return store
}

// under reports whether p is an absolute path equal to or below mount
// (clean, absolute). Paths are the pods' (Linux) paths, hence package path.
func under(p, mount string) bool {
	if !path.IsAbs(p) {
		return false
	}
	p = path.Clean(p)
	return p == mount || mount == "/" || strings.HasPrefix(p, mount+"/")
}

// PlanHash is the hash that tells Jobs of different studies apart: of p's
// unit ids, in order, and of the study folder and store. Unit ids are
// content addresses of the work, so the same spec gives the same hash.
func PlanHash(p *study.Plan, dir, store string) string {
	store = storeOf(dir, store)
	h := sha256.New()
	for _, u := range p.Units {
		fmt.Fprintf(h, "%s\n", u.ID)
	}
	fmt.Fprintf(h, "dir %s\nstore %s\n", path.Clean(dir), path.Clean(store))
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultName is the Job name prefix Options.Name defaults to: "losslab-",
// the study's name made a DNS-1123 label and shortened, and the first 8
// hex digits of PlanHash.
func DefaultName(p *study.Plan, dir, store string) string {
	hash := PlanHash(p, dir, store)[:8]
	room := prefixLimit(len(p.TrainUnits())) - len("losslab-") - len("-") - len(hash)
	s := sanitize(p.Study)
	if len(s) > room {
		s = strings.TrimRight(s[:room], "-")
	}
	if s == "" {
		return "losslab-" + hash
	}
	return "losslab-" + s + "-" + hash
}

// sanitize maps s to lower-case letters, digits and single dashes, with
// no dash at either end: the alphabet of a DNS-1123 label.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// resolved is Options with every default filled in, for one plan.
type resolved struct {
	Options
	retries     int32
	dir, store  string
	hash, train string
	analyses    string
	study       string // the study's name
}

// resolve checks o and fills in its defaults for plan p.
func (o Options) resolve(p *study.Plan, dir, store string) (*resolved, error) {
	if err := o.Check(dir, store); err != nil {
		return nil, err
	}
	n := len(p.TrainUnits())
	if n == 0 {
		return nil, fmt.Errorf("study %s has no training units", p.Study)
	}
	store = storeOf(dir, store)
	r := &resolved{Options: o, dir: path.Clean(dir), store: path.Clean(store), hash: PlanHash(p, dir, store), study: p.Study}
	r.MountPath = path.Clean(r.MountPath)
	if r.Binary == "" {
		r.Binary = DefaultBinary
	}
	if r.Namespace == "" {
		r.Namespace = DefaultNamespace
	}
	if r.Parallelism == 0 {
		r.Parallelism = DefaultMaxParallelism
	}
	// More pods than indexes would only sit idle; capping keeps the
	// manifest honest about what runs.
	r.Parallelism = min(r.Parallelism, n)
	r.retries = DefaultRetriesPerIndex
	if r.RetriesPerIndex != nil {
		r.retries = *r.RetriesPerIndex
	}
	if r.Name == "" {
		r.Name = DefaultName(p, dir, store)
	} else if l := prefixLimit(n); len(r.Name) > l {
		return nil, fmt.Errorf("job name prefix %q is too long for %d training units: the training pods are named %s-%s-%d, which must fit in 63 characters; use at most %d",
			r.Name, n, r.Name, RoleTrain, n-1, l)
	}
	if r.Poll == 0 {
		r.Poll = DefaultPoll
	}
	r.train = r.Name + "-" + RoleTrain
	r.analyses = r.Name + "-" + RoleAnalyses
	return r, nil
}
