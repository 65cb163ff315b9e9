package io.fausthost.bench;

import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams peer of the forwarding benchmark: a topology that sends every record of one
 * topic on to another, key and value unchanged, with Kafka Streams' defaults but for the
 * processing guarantee (one stream thread).
 *
 * <pre>java -cp 'bench-kafka-streams.jar:lib/*' io.fausthost.bench.Forward BROKER APPLICATION_ID FROM TO GUARANTEE STATE_DIR</pre>
 *
 * <p>Prints "kafka-streams: RUNNING" once the application has its partitions (the benchmark's
 * "ready"), and every other state it enters. Stops on SIGINT or SIGTERM.
 */
public final class Forward {
  private static final String USAGE =
      "usage: Forward BROKER APPLICATION_ID FROM TO at_least_once|exactly_once_v2 STATE_DIR";

  private Forward() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 6) {
      System.err.println(USAGE);
      System.exit(2);
    }
    final String guarantee = args[4];
    if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
      System.err.println("kafka-streams: unknown processing guarantee '" + guarantee + "'; " + USAGE);
      System.exit(2);
    }
    final Properties settings = new Properties();
    settings.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    settings.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    settings.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    // Not a processing setting: keeps the (empty) task folders out of /tmp.
    settings.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);

    final StreamsBuilder builder = new StreamsBuilder();
    builder.stream(args[2], Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .to(args[3], Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

    final KafkaStreams streams = new KafkaStreams(builder.build(), settings);
    final CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      System.out.println("kafka-streams: " + now);
      System.out.flush();
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) stopped.countDown();
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      stopped.countDown();
    }));
    streams.start();
    stopped.await();
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }
}
