package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// pool is the worker processes of one run against one server.
type pool struct {
	workers []*workerConn
}

type workerConn struct {
	in   io.WriteCloser
	out  *json.Decoder
	cmd  *exec.Cmd     // nil for a worker in this process
	done chan struct{} // closed when the in-process worker returns
}

// startPool starts n workers as processes of this executable, or one in
// this process when n < 0.
func startPool(ctx context.Context, n int, stderr io.Writer) (*pool, error) {
	p := &pool{}
	if n < 0 {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		wc := &workerConn{in: inW, out: json.NewDecoder(bufio.NewReader(outR)), done: make(chan struct{})}
		go func() {
			defer close(wc.done)
			err := runWorker(ctx, inR, outW)
			outW.CloseWithError(errors.Join(err, io.EOF))
		}()
		p.workers = append(p.workers, wc)
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for range n {
		cmd := exec.Command(exe, "worker")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.close()
			return nil, fmt.Errorf("start a worker: %w", err)
		}
		p.workers = append(p.workers, &workerConn{in: in, out: json.NewDecoder(bufio.NewReader(out)), cmd: cmd})
	}
	return p, nil
}

// all sends each worker its command and waits for every answer.
func (p *pool) all(mk func(i int) command) ([]result, error) {
	results := make([]result, len(p.workers))
	errs := make([]error, len(p.workers))
	var wg sync.WaitGroup
	for i, w := range p.workers {
		cmd := mk(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _ := json.Marshal(cmd)
			if _, err := w.in.Write(append(data, '\n')); err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
				return
			}
			if err := w.out.Decode(&results[i]); err != nil {
				errs[i] = fmt.Errorf("worker %d: %s: %w", i, cmd.Op, err)
				return
			}
			if results[i].Err != "" {
				errs[i] = fmt.Errorf("worker %d: %s: %s", i, cmd.Op, results[i].Err)
			}
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// merged sends every worker the same command and merges their stats.
func (p *pool) merged(mk func(i int) command) (snapshot, int, error) {
	results, err := p.all(mk)
	var snap snapshot
	count := 0
	for _, r := range results {
		snap.merge(r.Stats)
		count += r.Count
	}
	return snap, count, err
}

// close stops the workers: each closes its connections and exits.
func (p *pool) close() {
	for _, w := range p.workers {
		data, _ := json.Marshal(command{Op: "stop"})
		_, _ = w.in.Write(append(data, '\n'))
		var r result
		_ = w.out.Decode(&r)
		w.in.Close()
		if w.cmd != nil {
			_ = w.cmd.Wait()
		} else {
			<-w.done
		}
	}
	p.workers = nil
}

// split shares n among k workers: worker i's part.
func split(n, k, i int) int {
	part := n / k
	if i < n%k {
		part++
	}
	return part
}
