package dev.vublk.block.contract;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** A contract test, run for every {@link Fixture}, buffered and with O_DIRECT: {@code (Fixture, boolean direct)}. */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@ParameterizedTest(name = "{0} direct={1}")
@MethodSource("dev.vublk.block.contract.ContractImage#everyImage")
@interface EveryImage {}
