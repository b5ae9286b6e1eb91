package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// connPool is a minimal HTTP/1.1 client for one loopback server: at most
// size keep-alive connections, each used by one request at a time, with no
// goroutine per connection. It costs the tool far less CPU per request than
// net/http's Transport, which matters when the tool shares two cores with
// the server it measures. Requests beyond size wait for a connection (that
// wait counts in their latency).
type connPool struct {
	addr  string // host:port
	host  string // Host header
	free  chan *poolConn
	slots chan struct{} // one per open connection
}

type poolConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// maxAnswerBytes bounds an answer's body.
const maxAnswerBytes = 1 << 20

// newConnPool returns a pool for base (an http:// URL).
func newConnPool(base string, size int) (*connPool, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("%w: %q is not an http URL", ErrUsage, base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &connPool{addr: addr, host: u.Host, free: make(chan *poolConn, size), slots: make(chan struct{}, size)}, nil
}

// get returns an idle connection, or a new one while fewer than size are
// open, or waits for one.
func (p *connPool) get(ctx context.Context) (*poolConn, error) {
	select {
	case pc := <-p.free:
		return pc, nil
	default:
	}
	select {
	case pc := <-p.free:
		return pc, nil
	case p.slots <- struct{}{}:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return &poolConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// drop closes pc and frees its slot.
func (p *connPool) drop(pc *poolConn) {
	pc.c.Close()
	<-p.slots
}

// close closes the idle connections.
func (p *connPool) close() {
	for {
		select {
		case pc := <-p.free:
			p.drop(pc)
		default:
			return
		}
	}
}

// post sends a JSON body to path and returns the status and the body of
// the answer.
func (p *connPool) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	pc, err := p.get(ctx)
	if err != nil {
		return 0, nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = pc.c.SetDeadline(deadline)
	status, answer, keep, err := pc.roundTrip(p.host, path, body)
	if err != nil || !keep {
		p.drop(pc)
		return status, answer, err
	}
	p.free <- pc
	return status, answer, nil
}

func (pc *poolConn) roundTrip(host, path string, body []byte) (status int, answer []byte, keep bool, err error) {
	w := pc.bw
	w.WriteString("POST ")
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\nContent-Type: application/json\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	answer, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	resp.Body.Close()
	switch {
	case err != nil:
		return resp.StatusCode, nil, false, err
	case len(answer) > maxAnswerBytes:
		return resp.StatusCode, nil, false, errors.New("answer larger than 1 MiB")
	}
	return resp.StatusCode, answer, !resp.Close, nil
}
