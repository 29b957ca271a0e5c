package study

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/losslab/losslab/report"
)

// SlurmOptions configure the Slurm executor.
type SlurmOptions struct {
	// Binary is the losslab executable the jobs run; "" means this
	// process's executable. It must be reachable at the same path on the
	// compute nodes, like the study folder (a shared filesystem).
	Binary string
	// Sbatch lists extra sbatch arguments, e.g. --partition=gpu.
	Sbatch []string
	// Poll is the interval between looks at the store's markers (default
	// 2 s).
	Poll time.Duration
}

// RunTrainUnit runs training unit index (in plan order of p's training
// units): what one task of the Slurm job array does.
func RunTrainUnit(ctx context.Context, p *Plan, o Options, index int) error {
	tu := p.TrainUnits()
	if index < 0 || index >= len(tu) {
		return fmt.Errorf("study run-unit: index %d; the plan has training units 0 to %d", index, len(tu)-1)
	}
	st := o.store()
	if err := os.MkdirAll(st.Dir, 0o755); err != nil {
		return err
	}
	u := tu[index]
	pr := newProgress(o.log(), p, st)
	pr.start(&u)
	err := st.RunUnit(ctx, p, &u, pr.unit(&u))
	pr.finish(&u, err)
	return err
}

// RunSlurm submits p's unfinished training units as one job array, one
// task per unit ('losslab study run-unit --index $SLURM_ARRAY_TASK_ID'),
// and the rest of the plan (analyses, report) as a job that runs after the
// whole array (afterany: a failed task leaves its unit unfinished, which the
// analysis job reports). It then polls the store's markers, not sacct
// (which needs slurmdbd), until the report is written or the jobs have
// left the queue. The study folder must be on a filesystem shared with the
// compute nodes.
func RunSlurm(ctx context.Context, p *Plan, o Options, so SlurmOptions) error {
	bin := so.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	if so.Poll == 0 {
		so.Poll = 2 * time.Second
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	st := o.store()
	storeDir, err := filepath.Abs(st.Dir)
	if err != nil {
		return err
	}
	logs := filepath.Join(dir, "slurm")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	common := []string{"--out", dir, "--store", storeDir}
	var pending []int
	for i, u := range p.TrainUnits() {
		if !st.Done(u.ID) {
			pending = append(pending, i)
		}
	}
	start := time.Now()
	var ids []string
	dep := ""
	log := o.log()
	if len(pending) > 0 {
		script := "#!/bin/sh\nexec " + shellQuote(append([]string{bin, "study", "run-unit"}, common...)) + " --index \"$SLURM_ARRAY_TASK_ID\"\n"
		args := append([]string{"--parsable", "--job-name=losslab-train", "--array=" + arrayRange(pending),
			"--output=" + filepath.Join(logs, "train-%A_%a.log")}, so.Sbatch...)
		id, err := sbatch(ctx, args, script)
		if err != nil {
			return err
		}
		ids = append(ids, id)
		dep = "--dependency=afterany:" + id
		fmt.Fprintf(log, "submitted %d training units as job array %s (logs in %s)\n", len(pending), id, logs)
	}
	script := "#!/bin/sh\nexec " + shellQuote(append([]string{bin, "study", "run-plan"}, common...)) + "\n"
	args := []string{"--parsable", "--job-name=losslab-analyses", "--output=" + filepath.Join(logs, "analyses-%j.log")}
	if dep != "" {
		args = append(args, dep)
	}
	id, err := sbatch(ctx, append(args, so.Sbatch...), script)
	if err != nil {
		return err
	}
	ids = append(ids, id)
	fmt.Fprintf(log, "submitted the analyses and report as job %s\n", id)

	reportPath := filepath.Join(dir, report.HTMLFile)
	for {
		done := 0
		for _, u := range p.Units {
			if st.Done(u.ID) {
				done++
			}
		}
		if fi, err := os.Stat(reportPath); err == nil && fi.ModTime().After(start) && done == len(p.Units) {
			fmt.Fprintf(log, "all %d units done; report written\n", done)
			return nil
		}
		if !inQueue(ctx, ids) {
			// Give the filesystem a moment: the job may have just ended.
			time.Sleep(so.Poll)
			if fi, err := os.Stat(reportPath); err == nil && fi.ModTime().After(start) && done == len(p.Units) {
				return nil
			}
			return fmt.Errorf("slurm jobs %s left the queue with %d of %d units done; see the logs in %s, then run the same command again to continue",
				strings.Join(ids, ", "), done, len(p.Units), logs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(so.Poll):
		}
	}
}

// RunPlanDir runs the plan stored in o.Dir to the end (what the analysis
// job does).
func RunPlanDir(ctx context.Context, o Options) error {
	p, err := LoadPlan(o.Dir)
	if err != nil {
		return err
	}
	return RunPlan(ctx, p, o)
}

// arrayRange writes indexes as sbatch's --array list, e.g. "0-3,7".
func arrayRange(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// shellQuote quotes words for sh.
func shellQuote(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// sbatch submits script on stdin and returns the job id.
func sbatch(ctx context.Context, args []string, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "sbatch", args...)
	cmd.Stdin = strings.NewReader(script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sbatch %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out.String()), ";")
	if id == "" {
		return "", fmt.Errorf("sbatch %s printed no job id", strings.Join(args, " "))
	}
	return id, nil
}

// inQueue reports whether any of the jobs (or array tasks) is still
// pending or running.
func inQueue(ctx context.Context, ids []string) bool {
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-r", "-j", strings.Join(ids, ","), "-o", "%i %T").Output()
	if err != nil {
		// squeue errors for ids it no longer knows: they have left.
		return false
	}
	return strings.TrimSpace(string(out)) != ""
}
