package dev.vublk.launcher;

import dev.vublk.vhost.blk.IoLimits;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * The I/O limit options, named as QEMU's throttle settings ({@code iops_rd_max} is
 * {@code --iops-rd-max}); checked by {@link IoLimits}, whose messages are given back in option
 * names.
 */
final class IoLimitOptions {
    /** A QEMU throttle field name in an {@link IoLimits} message. */
    private static final Pattern FIELD = Pattern.compile("\\b(?:iops|bps)(?:_rd|_wr)?(?:_max)?(?:_length)?\\b");

    @Option(names = "--iops", paramLabel = "N", description = "Limit reads and writes together to N per second (default: no limit).")
    long iops;

    @Option(names = "--iops-rd", paramLabel = "N", description = "Limit reads to N per second.")
    long iopsRd;

    @Option(names = "--iops-wr", paramLabel = "N", description = "Limit writes to N per second.")
    long iopsWr;

    @Option(names = "--bps", paramLabel = "BYTES", description = "Limit reads and writes together to BYTES per second.")
    long bps;

    @Option(names = "--bps-rd", paramLabel = "BYTES", description = "Limit reads to BYTES per second.")
    long bpsRd;

    @Option(names = "--bps-wr", paramLabel = "BYTES", description = "Limit writes to BYTES per second.")
    long bpsWr;

    @Option(names = "--iops-max", paramLabel = "N",
            description = "Burst rate for --iops, allowed for --iops-max-length seconds (likewise the five below).")
    long iopsMax;

    @Option(names = "--iops-rd-max", paramLabel = "N", description = "Burst rate for --iops-rd.")
    long iopsRdMax;

    @Option(names = "--iops-wr-max", paramLabel = "N", description = "Burst rate for --iops-wr.")
    long iopsWrMax;

    @Option(names = "--bps-max", paramLabel = "BYTES", description = "Burst rate for --bps.")
    long bpsMax;

    @Option(names = "--bps-rd-max", paramLabel = "BYTES", description = "Burst rate for --bps-rd.")
    long bpsRdMax;

    @Option(names = "--bps-wr-max", paramLabel = "BYTES", description = "Burst rate for --bps-wr.")
    long bpsWrMax;

    @Option(names = "--iops-max-length", paramLabel = "SECONDS", defaultValue = "1",
            description = "How long a burst at --iops-max may last (default: ${DEFAULT-VALUE}; likewise the five below).")
    long iopsMaxLength;

    @Option(names = "--iops-rd-max-length", paramLabel = "SECONDS", defaultValue = "1", description = "For --iops-rd-max.")
    long iopsRdMaxLength;

    @Option(names = "--iops-wr-max-length", paramLabel = "SECONDS", defaultValue = "1", description = "For --iops-wr-max.")
    long iopsWrMaxLength;

    @Option(names = "--bps-max-length", paramLabel = "SECONDS", defaultValue = "1", description = "For --bps-max.")
    long bpsMaxLength;

    @Option(names = "--bps-rd-max-length", paramLabel = "SECONDS", defaultValue = "1", description = "For --bps-rd-max.")
    long bpsRdMaxLength;

    @Option(names = "--bps-wr-max-length", paramLabel = "SECONDS", defaultValue = "1", description = "For --bps-wr-max.")
    long bpsWrMaxLength;

    /** The limits given, or a {@link ParameterException} naming the options that break a rule. */
    IoLimits limits(CommandLine commandLine) {
        try {
            return new IoLimits(iops, iopsRd, iopsWr, bps, bpsRd, bpsWr,
                    iopsMax, iopsRdMax, iopsWrMax, bpsMax, bpsRdMax, bpsWrMax,
                    iopsMaxLength, iopsRdMaxLength, iopsWrMaxLength, bpsMaxLength, bpsRdMaxLength, bpsWrMaxLength);
        } catch (IllegalArgumentException e) {
            Matcher m = FIELD.matcher(e.getMessage());
            StringBuilder b = new StringBuilder();
            while (m.find()) {
                m.appendReplacement(b, "--" + m.group().replace('_', '-'));
            }
            m.appendTail(b);
            throw new ParameterException(commandLine, b.toString());
        }
    }
}
