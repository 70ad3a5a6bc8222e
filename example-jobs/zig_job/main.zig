//! The plugin `wasmcron.examples.zig`: a job component written in Zig against wit/job.wit.
//!
//! The canonical-ABI glue is the C code `guest-tools bindgen c` generates from the WIT world
//! (gen/job.c, linked in at build time). Zig has no @cImport any more, so the few
//! declarations of gen/job.h used here are repeated below as `extern` types and functions;
//! this file exports the two functions job.c calls, `exports_job_describe` and
//! `exports_job_run`. Every string handed back is allocated with `malloc` (through
//! `std.heap.c_allocator`): job.c's post-return functions `free` them.
//!
//! Classes:
//!   Primes   {"n": 100, "largest": 3}  -> {"below":100,"count":25,"largest":[97,89,83]}
//!   Collatz  {"n": 27}                 -> {"n":27,"steps":111,"peak":9232}
//!
//! Each class gives the JSON Schema of its arguments (world 0.3.0), so the server refuses a
//! job whose pub_args do not match when it is saved, naming the field. The checks in the
//! classes stay: `wasmcron run --args` and older hosts pass arguments on unchecked.
const std = @import("std");

// ---------- declarations from gen/job.h ----------

const JobString = extern struct {
    ptr: ?[*]u8,
    len: usize,

    fn slice(s: JobString) []const u8 {
        return if (s.ptr) |p| p[0..s.len] else "";
    }

    /// Borrows `bytes` (for calls into the host, which copies).
    fn borrow(bytes: []const u8) JobString {
        return .{ .ptr = @constCast(bytes.ptr), .len = bytes.len };
    }
};

const Argument = extern struct { name: JobString, type: JobString, description: JobString };
const ArgumentList = extern struct { ptr: ?[*]Argument, len: usize };
/// job_option_string_t: an `option<string>`.
const OptionString = extern struct { is_some: bool, val: JobString };
const JobClass = extern struct {
    name: JobString,
    notes: JobString,
    arguments: ArgumentList,
    example_arguments: JobString,
    arguments_schema: OptionString,
};
const JobClassList = extern struct { ptr: ?[*]JobClass, len: usize };
const Context = extern struct {
    job_id: JobString,
    job_name: JobString,
    execution_id: JobString,
    scheduled_time: JobString,
    attempt: u32,
};

const Level = enum(u8) { trace, debug, info, warn, @"error" };

extern fn wasmcron_job_host_log(level: Level, message: *const JobString) void;
extern fn wasmcron_job_host_progress(percent: u8, message: *const JobString) void;
extern fn job_context_free(ctx: *Context) void;
extern fn job_string_free(s: *JobString) void;

// ---------- helpers ----------

const gpa = std.heap.c_allocator;

fn logInfo(arena: std.mem.Allocator, comptime format: []const u8, args: anytype) void {
    const line = std.fmt.allocPrint(arena, format, args) catch return;
    wasmcron_job_host_log(.info, &JobString.borrow(line));
}

fn progress(percent: u8, message: []const u8) void {
    wasmcron_job_host_progress(percent, &JobString.borrow(message));
}

/// Copies `bytes` into a malloc'd component-model string (the caller frees it).
fn owned(bytes: []const u8) JobString {
    if (bytes.len == 0) return .{ .ptr = null, .len = 0 };
    const copy = gpa.dupe(u8, bytes) catch @panic("out of memory");
    return .{ .ptr = copy.ptr, .len = copy.len };
}

/// A run's outcome: JSON text, or why it failed.
const Outcome = union(enum) { ok: []const u8, err: []const u8 };

fn fail(arena: std.mem.Allocator, comptime format: []const u8, args: anytype) Outcome {
    return .{ .err = std.fmt.allocPrint(arena, format, args) catch "out of memory" };
}

/// The arguments object, or null when `args` is not a JSON object.
fn parseArguments(arena: std.mem.Allocator, args: []const u8) ?std.json.ObjectMap {
    const value = std.json.parseFromSliceLeaky(std.json.Value, arena, args, .{}) catch return null;
    return switch (value) {
        .object => |object| object,
        else => null,
    };
}

/// The integer member `name` of `object` from `min` to `max`: `fallback` when absent
/// (null: required), an error message when it is not such an integer.
fn integer(
    arena: std.mem.Allocator,
    object: std.json.ObjectMap,
    name: []const u8,
    min: i64,
    max: i64,
    fallback: ?i64,
) union(enum) { value: i64, err: Outcome } {
    const value = object.get(name) orelse {
        if (fallback) |f| return .{ .value = f };
        return .{ .err = fail(arena, "missing argument \"{s}\" (an integer from {d} to {d})", .{ name, min, max }) };
    };
    switch (value) {
        .integer => |n| if (n >= min and n <= max) return .{ .value = n },
        else => {},
    }
    return .{ .err = fail(arena, "argument \"{s}\" must be an integer from {d} to {d}", .{ name, min, max }) };
}

fn json(arena: std.mem.Allocator, value: anytype) Outcome {
    return .{ .ok = std.json.Stringify.valueAlloc(arena, value, .{}) catch return fail(arena, "out of memory", .{}) };
}

// ---------- the classes ----------

const max_below = 10_000_000;

fn primes(arena: std.mem.Allocator, args: std.json.ObjectMap) Outcome {
    const below = switch (integer(arena, args, "n", 2, max_below, null)) {
        .value => |v| @as(usize, @intCast(v)),
        .err => |e| return e,
    };
    const largest = switch (integer(arena, args, "largest", 0, 100, 5)) {
        .value => |v| @as(usize, @intCast(v)),
        .err => |e| return e,
    };
    // The sieve of Eratosthenes over 0 .. below-1.
    const composite = arena.alloc(bool, below) catch return fail(arena, "out of memory for a sieve of {d}", .{below});
    @memset(composite, false);
    var i: usize = 2;
    while (i * i < below) : (i += 1) {
        if (composite[i]) continue;
        var j = i * i;
        while (j < below) : (j += i) composite[j] = true;
    }
    progress(50, "sieved");
    var count: usize = 0;
    var top: std.ArrayList(usize) = .empty;
    var k = below; // down to 2
    while (k > 2) {
        k -= 1;
        if (composite[k]) continue;
        count += 1;
        if (top.items.len < largest) top.append(arena, k) catch return fail(arena, "out of memory", .{});
    }
    progress(100, "counted");
    logInfo(arena, "{d} primes below {d}", .{ count, below });
    return json(arena, .{ .below = below, .count = count, .largest = top.items });
}

fn collatz(arena: std.mem.Allocator, args: std.json.ObjectMap) Outcome {
    const start = switch (integer(arena, args, "n", 1, 1_000_000_000_000, null)) {
        .value => |v| @as(u64, @intCast(v)),
        .err => |e| return e,
    };
    var n = start;
    var peak = start;
    var steps: u64 = 0;
    while (n != 1) : (steps += 1) {
        if (n % 2 == 0) {
            n /= 2;
        } else {
            const tripled = @mulWithOverflow(n, 3);
            if (tripled[1] != 0 or tripled[0] == std.math.maxInt(u64)) {
                return fail(arena, "the sequence from {d} leaves 64 bits", .{start});
            }
            n = tripled[0] + 1;
        }
        peak = @max(peak, n);
    }
    logInfo(arena, "{d} reaches 1 after {d} steps", .{ start, steps });
    return json(arena, .{ .n = start, .steps = steps, .peak = peak });
}

// ---------- the exports ----------

const ArgumentDoc = struct { name: []const u8, type: []const u8, description: []const u8 };
const ClassDoc = struct {
    name: []const u8,
    notes: []const u8,
    arguments: []const ArgumentDoc,
    example: []const u8,
    /// The JSON Schema of the arguments, as JSON text: what the class's checks accept.
    schema: []const u8,
    run: *const fn (std.mem.Allocator, std.json.ObjectMap) Outcome,
};

const classes = [_]ClassDoc{
    .{
        .name = "Primes",
        .notes = "Counts the primes below n with a sieve of Eratosthenes and lists the largest of them, " ++
            "in descending order.",
        .arguments = &.{
            .{ .name = "n", .type = "integer", .description = "The bound (exclusive), from 2 to 10000000." },
            .{ .name = "largest", .type = "integer", .description = "How many of the largest primes to list, 0 to 100; 5 when absent." },
        },
        .example = "{\"n\": 100, \"largest\": 3}",
        .schema =
        \\{"type": "object",
        \\ "properties": {
        \\   "n": {"type": "integer", "minimum": 2, "maximum": 10000000,
        \\         "description": "The bound (exclusive)."},
        \\   "largest": {"type": "integer", "minimum": 0, "maximum": 100,
        \\               "description": "How many of the largest primes to list (5 when absent)."}},
        \\ "required": ["n"], "additionalProperties": false}
        ,
        .run = primes,
    },
    .{
        .name = "Collatz",
        .notes = "Follows the Collatz sequence from n (n/2 if even, 3n+1 if odd) down to 1 and reports " ++
            "the number of steps and the largest value reached.",
        .arguments = &.{
            .{ .name = "n", .type = "integer", .description = "The starting value, from 1 to 1000000000000." },
        },
        .example = "{\"n\": 27}",
        .schema =
        \\{"type": "object",
        \\ "properties": {
        \\   "n": {"type": "integer", "minimum": 1, "maximum": 1000000000000,
        \\         "description": "The starting value."}},
        \\ "required": ["n"], "additionalProperties": false}
        ,
        .run = collatz,
    },
};

export fn exports_job_describe(ret: *JobClassList) void {
    const list = gpa.alloc(JobClass, classes.len) catch @panic("out of memory");
    for (classes, list) |doc, *class| {
        const arguments = gpa.alloc(Argument, doc.arguments.len) catch @panic("out of memory");
        for (doc.arguments, arguments) |a, *argument| {
            argument.* = .{ .name = owned(a.name), .type = owned(a.type), .description = owned(a.description) };
        }
        class.* = .{
            .name = owned(doc.name),
            .notes = owned(doc.notes),
            .arguments = .{ .ptr = arguments.ptr, .len = arguments.len },
            .example_arguments = owned(doc.example),
            .arguments_schema = .{ .is_some = true, .val = owned(doc.schema) },
        };
    }
    ret.* = .{ .ptr = list.ptr, .len = list.len };
}

export fn exports_job_run(ctx: *Context, class: *JobString, args: *JobString, ret: *JobString, err: *JobString) bool {
    defer {
        job_context_free(ctx);
        job_string_free(class);
        job_string_free(args);
    }
    var arena_state = std.heap.ArenaAllocator.init(gpa);
    defer arena_state.deinit();
    const arena = arena_state.allocator();

    const outcome: Outcome = for (classes) |doc| {
        if (!std.mem.eql(u8, doc.name, class.slice())) continue;
        const object = parseArguments(arena, args.slice()) orelse
            break fail(arena, "the arguments must be a JSON object", .{});
        break doc.run(arena, object);
    } else fail(arena, "unknown class \"{s}\" (this plugin has Primes and Collatz)", .{class.slice()});

    switch (outcome) {
        .ok => |text| {
            ret.* = owned(text);
            return true;
        },
        .err => |message| {
            err.* = owned(message);
            return false;
        },
    }
}
