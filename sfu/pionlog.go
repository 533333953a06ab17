package sfu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
)

// pionLogs routes pion's own logging into the node's slog logger: pion's
// errors become warnings (but for writes to a closed connection), its
// warnings debug lines, the rest is dropped.
// Each scope is capped at pionLogBurst lines per second, since some pion
// errors repeat per packet (e.g. writes to a connection being closed).
type pionLogs struct{ log *slog.Logger }

const pionLogBurst = 5

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct {
	log    *slog.Logger
	second atomic.Int64
	count  atomic.Int32
}

func (l *pionLogger) emit(level slog.Level, msg string) {
	if !l.log.Enabled(context.Background(), level) {
		return // and leave the second's budget to lines that are shown
	}
	now := time.Now().Unix()
	if l.second.Swap(now) != now {
		l.count.Store(0)
	}
	if l.count.Add(1) > pionLogBurst {
		return
	}
	l.log.Log(context.Background(), level, msg)
}

func (l *pionLogger) Trace(string)          {}
func (l *pionLogger) Tracef(string, ...any) {}
func (l *pionLogger) Debug(string)          {}
func (l *pionLogger) Debugf(string, ...any) {}
func (l *pionLogger) Info(string)           {}
func (l *pionLogger) Infof(string, ...any)  {}
func (l *pionLogger) Warn(msg string)       { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Warnf(f string, a ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(slog.LevelDebug, fmt.Sprintf(f, a...))
	}
}
func (l *pionLogger) Error(msg string) { l.emit(errorLevel(msg), msg) }
func (l *pionLogger) Errorf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	l.emit(errorLevel(msg), msg)
}

// errorLevel is the level of one of pion's errors: a warning, unless it only
// says a packet met a connection that was just closed, which happens
// whenever a participant leaves while their browser is still sending.
func errorLevel(msg string) slog.Level {
	if strings.Contains(msg, io.ErrClosedPipe.Error()) || strings.Contains(msg, net.ErrClosed.Error()) {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
