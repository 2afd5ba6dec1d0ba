import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An idle JVM "server": background threads that only ever sit in short timed
 * waits (LockSupport.parkNanos, Object.wait, Thread.sleep, a scheduled
 * executor), the way a server's timers, pollers and heartbeat threads do.
 * Doing nothing, it should cost next to no CPU.
 *
 * <p>Every 200 ms the main thread prints {@code tick <currentTimeMillis>
 * <nanoTime>} so the caller can check the wall clock (skew) and the monotonic
 * clock. Exits when stdin reaches end of file.
 */
public final class IdleClock {
    private static final int PARKERS = 8;
    private static final int WAITERS = 8;
    private static final int SLEEPERS = 4;

    private IdleClock() {}

    private static void daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < PARKERS; i++) {
            long nanos = TimeUnit.MILLISECONDS.toNanos(1 + i * 3L);  // 1..22 ms
            daemon("parker-" + i, () -> {
                while (true) {
                    LockSupport.parkNanos(nanos);
                }
            });
        }
        for (int i = 0; i < WAITERS; i++) {
            long millis = 5 + i * 5L;  // 5..40 ms
            Object lock = new Object();
            daemon("waiter-" + i, () -> {
                synchronized (lock) {
                    while (true) {
                        try {
                            lock.wait(millis);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
            });
        }
        for (int i = 0; i < SLEEPERS; i++) {
            long millis = 10 + i * 10L;  // 10..40 ms
            daemon("sleeper-" + i, () -> {
                while (true) {
                    try {
                        Thread.sleep(millis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }
        ScheduledExecutorService timers = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "timer");
            t.setDaemon(true);
            return t;
        });
        timers.scheduleAtFixedRate(() -> { }, 10, 10, TimeUnit.MILLISECONDS);
        timers.scheduleWithFixedDelay(() -> { }, 25, 25, TimeUnit.MILLISECONDS);

        daemon("ticker", () -> {
            long period = TimeUnit.MILLISECONDS.toNanos(200);
            long next = System.nanoTime();
            while (true) {
                System.out.println("tick " + System.currentTimeMillis() + " " + System.nanoTime());
                System.out.flush();
                next += period;
                // Keep the cadence even if a timed wait returns early.
                for (long left; (left = next - System.nanoTime()) > 0; ) {
                    LockSupport.parkNanos(left);
                }
            }
        });

        // Run until the caller closes our stdin.
        while (System.in.read() != -1) {
            // discard
        }
        System.exit(0);
    }
}
