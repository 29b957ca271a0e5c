package folderlock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A second Lock on a locked folder fails at once, naming the folder and
// the holder (host, pid, start time); after release the folder can be
// locked again.
func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second lock: err = %v; want a BusyError naming %s and pid %d", err, dir, os.Getpid())
	}
	host, _ := os.Hostname()
	if h := busy.Holder; h.Host != host || time.Since(h.Started) > time.Minute || h.Started.After(time.Now()) {
		t.Errorf("holder %+v; want host %q and a start time just now", h, host)
	}
	for _, w := range []string{"process " + strconv.Itoa(os.Getpid()), "on " + host, " since ", "--wait"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
	release()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// A lock dies with its process: a child that takes the lock and is killed
// leaves the folder free.
func TestLockDiesWithItsProcess(t *testing.T) {
	if os.Getenv("FOLDERLOCK_CHILD") != "" {
		if _, err := Lock(os.Getenv("FOLDERLOCK_CHILD")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		select {} // hold it until killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDiesWithItsProcess$")
	cmd.Env = append(os.Environ(), "FOLDERLOCK_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf[:6]) != "locked" {
		t.Fatalf("child: %q, %v", buf, err)
	}
	_, err = Lock(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder.PID != cmd.Process.Pid {
		t.Fatalf("while the child holds it: err = %v; want busy with pid %s", err, strconv.Itoa(cmd.Process.Pid))
	}
	cmd.Process.Kill()
	cmd.Wait()
	release, err := Lock(dir)
	if err != nil {
		t.Fatalf("after the child was killed: %v", err)
	}
	release()
}

// A lock file from before host and start time were recorded holds a bare
// pid, which is still reported.
func TestBarePIDHolder(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := os.WriteFile(dir+"/"+File, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder != (Holder{PID: 4242}) || !strings.Contains(err.Error(), "in use by process 4242 (lock") {
		t.Errorf("err = %v; want the bare pid 4242 as the holder", err)
	}
}

// Wait returns once the holder releases the lock, having said once whom
// it waits for; cancelled, it gives up with an error naming the holder.
func TestWait(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	var busyCalls int
	go func() {
		r, err := Wait(context.Background(), dir, func(b *BusyError) {
			busyCalls++
			if b.Holder.PID != os.Getpid() {
				t.Errorf("busy holder %+v; want pid %d", b.Holder, os.Getpid())
			}
		})
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("Wait returned while the lock was held")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		if busyCalls != 1 {
			t.Errorf("busy called %d times; want once", busyCalls)
		}
		if _, err := Lock(dir); !errors.Is(err, ErrBusy) {
			t.Errorf("after Wait returned, Lock: %v; want busy (Wait holds it)", err)
		}
		r()
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the lock was released")
	}

	held, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Wait(ctx, dir, nil); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("Wait past its deadline: %v; want DeadlineExceeded naming the holder", err)
	}
}
