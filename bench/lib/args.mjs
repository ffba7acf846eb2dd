// run.mjs's command-line options: their defaults, the help text and the checks. `config` is printed
// in BENCH_JSON as it is.
import { parseArgs } from 'node:util';
import { fail } from './processes.mjs';

const { values: argv } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    writes: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '2' },
    noise: { type: 'string', default: '10' },
    redis: { type: 'boolean' },
    'redis-rounds': { type: 'string' },
    'h2h-rounds': { type: 'string' },
    fastify: { type: 'boolean', default: false },
    compat: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowNegative: true,
});
if (argv.help) {
  console.log(`usage: node bench/run.mjs [--rounds 5] [--duration 5] [--connections 50] [--writes 5000] [--warmup 2] [--noise 10]
                         [--redis | --no-redis] [--redis-rounds 3] [--h2h-rounds N] [--fastify] [--compat]
  --rounds       measured rounds; medians are reported            (default 5)
  --duration     seconds per server per scenario per round        (default 5)
  --connections  autocannon connections                            (default 50)
  --writes       requests fired in the shared-session counter test (default 5000)
  --warmup       seconds of unmeasured load per server and scenario before round 1 (default 2; 0 = none)
  --noise        % of one CPU other processes may use: before each run the driver waits (up to 5 s
                 per run, 15 s in all) for them to drop below it, and a run during which they
                 used more is repeated once, keeping the quieter attempt (at most 10% of runs)
                 (default 10; 0 = no waiting or repeating)
  --redis        include the Redis servers (nest-sessions-redis, express-session-redis); fail if
                 Redis does not answer PING on 127.0.0.1:6379
  --no-redis     leave them out
                 (default: included when Redis answers PING, else skipped with a note)
  --redis-rounds rounds (the first ones) in which the Redis servers are driven too, at most --rounds
                 (default: the smaller of 3 and --rounds)
  --h2h-rounds   head-to-head rounds after the others: the servers of a group (bare, nest-sessions,
                 express-session; then the two Redis servers) under load at the same time on the same
                 core, --duration s per scenario (default: --rounds; 0 = none)
  --fastify      add the Fastify servers (fastify-bare, fastify-nest-sessions, fastify-session; with
                 Redis fastify-nest-sessions-redis and fastify-session-redis): Nest-on-Fastify, ratios
                 to fastify-bare, and their own head-to-head groups (about +4.5 min; +2.5 min more
                 with Redis)
  --compat       add nest-sessions-compat: nest-sessions (memory, Express) through the express-session
                 compatible req.session, in the rounds and in a head-to-head group of its own with bare
                 and nest-sessions (about +2 min)`);
  process.exit(0);
}
const positiveInt = (name, min = 1) => {
  const n = Number(argv[name]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(argv[name])}`);
  return n;
};
export const config = {
  rounds: positiveInt('rounds'),
  duration: positiveInt('duration'),
  connections: positiveInt('connections'),
  writes: positiveInt('writes'),
  warmup: positiveInt('warmup', 0),
  noise: positiveInt('noise', 0),
  fastify: argv.fastify,
  compat: argv.compat,
};
config.h2hRounds = argv['h2h-rounds'] === undefined ? config.rounds : positiveInt('h2h-rounds', 0);
config.redisRounds = argv['redis-rounds'] === undefined ? Math.min(3, config.rounds) : positiveInt('redis-rounds');
if (config.redisRounds > config.rounds)
  fail('--redis-rounds must not exceed --rounds (the Redis servers are paired with bare within a round)');
if (config.writes < config.connections) fail('--writes must be at least --connections (autocannon needs one request per connection)');

/** `--redis`: true; `--no-redis`: false; neither: undefined (the Redis servers take part when Redis answers PING). */
export const redisFlag = argv.redis;
