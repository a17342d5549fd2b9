package dev.vublk.control;

import dev.vublk.vhost.blk.BlkDevice;
import dev.vublk.vhost.blk.BlkDisk;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code query-status}: {@code {"running": bool, "status": NAME}} with QEMU's RunState names,
 * chosen for what a backend can know: {@code running} while a front-end runs at least one queue,
 * {@code prelaunch} until the first front-end connects, and {@code paused} when a front-end
 * connected but runs no queue (not started yet, stopped for migration or pause, or gone).
 */
record QueryStatus(BlkDisk disk) implements QmpCommand {
    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        new QmpArguments(arguments).noOthers();
        BlkDevice device = disk.connected();
        String status = device == null ? "prelaunch" : device.runningQueues() > 0 ? "running" : "paused";
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("running", status.equals("running"));
        result.put("status", status);
        return result;
    }
}
