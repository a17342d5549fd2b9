package dev.vublk.control;

import java.util.Map;

/**
 * One command of the control socket. Arguments arrive as parsed JSON (a {@code Map} with
 * {@code String}, {@code Long}, {@code Double}, {@code Boolean}, {@code List}, {@code Map} or null
 * values); the result must be such a value too, an empty {@code Map} when there is nothing to say
 * (QMP's {@code {"return": {}}}).
 */
@FunctionalInterface
public interface QmpCommand {
    Object execute(Map<String, Object> arguments) throws QmpException;
}
