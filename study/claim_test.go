package study

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/losslab/losslab/internal/folderlock"
)

// lineLog collects RunTrainUnit's log, written from its goroutine.
type lineLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// claimSetup plans the tiny study into a fresh folder and locks training
// unit 0's folder as another process running it would.
func claimSetup(t *testing.T) (p *Plan, o Options, u Unit, release func()) {
	t.Helper()
	p, err := NewPlan(tinySpec(), testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	o = Options{Dir: t.TempDir(), Datasets: testDatasets}
	u = p.TrainUnits()[0]
	dir := o.store().UnitDir(u.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	release, err = folderlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p, o, u, release
}

// runUnitAsync runs training unit 0 as a requeued array task or
// replacement pod would, logging to log.
func runUnitAsync(p *Plan, o Options, log *lineLog) <-chan error {
	o.Log = log
	done := make(chan error, 1)
	go func() { done <- RunTrainUnit(context.Background(), p, o, 0) }()
	return done
}

// waitsFor checks that the task is waiting for the unit's holder: it has
// said so, and not returned.
func waitsFor(t *testing.T, u Unit, log *lineLog, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "unit "+u.ID+" is being run by process "+strconv.Itoa(os.Getpid())) {
		if time.Now().After(deadline) {
			t.Fatalf("the task does not say it waits for the unit's holder:\n%s", log.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the task returned %v while another process ran its unit", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the task returned %v while another process ran its unit", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func finish(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("the task did not return after the unit's holder let go")
		return nil
	}
}

// A task whose unit another live process is running waits for it, and
// when that process finished the unit, takes its result as done: it
// neither fails nor trains the unit a second time.
func TestRunUnitWaitsForItsHolder(t *testing.T) {
	p, o, u, release := claimSetup(t)
	log := &lineLog{}
	done := runUnitAsync(p, o, log)
	waitsFor(t, u, log, done)

	// The holder finishes the unit: its marker is the one that stays.
	st := o.store()
	if err := os.WriteFile(st.UnitDir(u.ID)+"/"+DoneFile, []byte(`{"unit":"`+u.ID+`","kind":"train","seconds":1,"finished":"2026-01-02T03:04:05Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	release()
	if err := finish(t, done); err != nil {
		t.Fatalf("the task failed after its unit was finished elsewhere: %v", err)
	}
	m, err := st.Marker(u.ID)
	if err != nil || m.Seconds != 1 {
		t.Errorf("marker %+v, %v: the task rewrote the finished unit's marker", m, err)
	}
	if _, err := os.Stat(st.UnitDir(u.ID) + "/run"); err == nil || strings.Contains(log.String(), "epoch") {
		t.Errorf("the task trained a unit that another process had finished:\n%s", log.String())
	}
}

// When the holder lets go without finishing the unit (it failed, or was
// killed), the waiting task runs the unit itself.
func TestRunUnitRunsWhatItsHolderLeft(t *testing.T) {
	p, o, u, release := claimSetup(t)
	log := &lineLog{}
	done := runUnitAsync(p, o, log)
	waitsFor(t, u, log, done)
	release()
	if err := finish(t, done); err != nil {
		t.Fatalf("the task failed: %v\n%s", err, log.String())
	}
	if !o.store().Done(u.ID) {
		t.Error("the unit its holder left unfinished is still unfinished")
	}
}

// With Wait, a study folder in use is waited for, saying whom for, until
// the holder lets go or the context ends; nothing runs meanwhile.
func TestRunPlanWaitsForTheStudyFolder(t *testing.T) {
	p, err := NewPlan(tinySpec(), testDatasets)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	release, err := folderlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	log := &lineLog{}
	done := make(chan error, 1)
	go func() { done <- RunPlan(ctx, p, Options{Dir: dir, Datasets: testDatasets, Log: log, Wait: true}) }()
	want := "study folder " + dir + " is in use by process " + strconv.Itoa(os.Getpid())
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); {
		select {
		case err := <-done:
			t.Fatalf("RunPlan returned %v while the folder was in use", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("RunPlan does not say whom it waits for:\n%s", log.String())
		}
	}
	cancel()
	if err := finish(t, done); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), dir) {
		t.Errorf("RunPlan cancelled while waiting: %v; want context.Canceled naming %s", err, dir)
	}
	if _, err := os.Stat(dir + "/units"); err == nil {
		t.Error("units ran while the study folder was in use")
	}
}
