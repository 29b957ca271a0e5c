// Command losslab trains image classifiers under many objectives and
// characterises what each objective does to the model. Run `losslab help`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: its flags are registered on a fresh FlagSet and
// run gets the remaining arguments.
type command struct {
	name     string
	summary  string
	usage    string // argument synopsis after the command name
	addFlags func(fs *flag.FlagSet) runFunc
}

// runFunc runs a subcommand on its positional arguments.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// run dispatches args to a subcommand. It returns errors instead of exiting
// so tests can call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs, _ := newFlagSet(c, stderr)
				fs.SetOutput(stdout)
				fs.Usage()
				return nil
			}
		}
		printUsage(stdout)
		if len(args) == 0 {
			return usageErrorf("no command given")
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return usageErrorf("unknown command %q; valid commands: %s", args[0], strings.Join(commandNames(), ", "))
	}
	fs, runFn := newFlagSet(c, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageErrorf("%s: %v", c.name, err)
	}
	return runFn(ctx, fs.Args(), stdout, stderr)
}

func newFlagSet(c *command, stderr io.Writer) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet("losslab "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFn := c.addFlags(fs)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: losslab %s %s\n\n%s\n", c.name, c.usage, c.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(out, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs, runFn
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "losslab: which training objective should I use, and what does it do to my model?")
	fmt.Fprintln(w, "\nUsage: losslab <command> [flags] [args]\n\nCommands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'losslab <command> -h' for a command's flags.")
}
