package org.avsep.core

import kotlin.math.hypot
import kotlin.math.max
import kotlin.math.min

/**
 * Which face is in which speaker slot, frame by frame: the rule of avsep_mobile/runtime/faces.py SlotTracker
 * (fed detections only: an app's landmarker returns every face each frame), tested against its case table
 * (parity_tests/data/face_cases.json). Pure Kotlin: it compiles for the JVM and for JavaScript.
 */
object Tracking {
    /** A detection continues a track when the boxes overlap this much (IoU)... */
    const val IOU = 0.3

    /** ...or its centre moved less than this share of the track's face size. */
    const val CENTRE = 0.5

    /** A track unseen for longer than this (seconds) frees its slot; a face back within it keeps slot, id and state. */
    const val GRACE_S = 0.5
}

/** A face's box in frame pixels (any consistent unit: the rule compares boxes only with each other). */
class FaceBox(val x0: Double, val y0: Double, val x1: Double, val y1: Double) {
    val centreX: Double get() = (x0 + x1) / 2
    val centreY: Double get() = (y0 + y1) / 2
    val size: Double get() = max(x1 - x0, y1 - y0)

    fun iou(o: FaceBox): Double {
        val ix = max(0.0, min(x1, o.x1) - max(x0, o.x0))
        val iy = max(0.0, min(y1, o.y1) - max(y0, o.y0))
        val inter = ix * iy
        val union = (x1 - x0) * (y1 - y0) + (o.x1 - o.x0) * (o.y1 - o.y0) - inter
        return if (union > 0) inter / union else 0.0
    }

    fun centreDistance(o: FaceBox): Double = hypot(centreX - o.centreX, centreY - o.centreY)

    /** [next] continues this face: the boxes overlap or its centre is near. */
    fun continuedBy(next: FaceBox): Boolean = iou(next) >= Tracking.IOU || centreDistance(next) < Tracking.CENTRE * size

    companion object {
        /** The box of a face's landmarks (x, y pairs), as faces.py face_from_landmarks. */
        fun around(xy: DoubleArray): FaceBox {
            var x0 = Double.POSITIVE_INFINITY
            var y0 = Double.POSITIVE_INFINITY
            var x1 = Double.NEGATIVE_INFINITY
            var y1 = Double.NEGATIVE_INFINITY
            for (i in 0 until xy.size / 2) {
                x0 = min(x0, xy[2 * i]); x1 = max(x1, xy[2 * i])
                y0 = min(y0, xy[2 * i + 1]); y1 = max(y1, xy[2 * i + 1])
            }
            return FaceBox(x0, y0, x1, y1)
        }
    }
}

/** One frame's assignment: faceOf[s] = the index of the detection in slot s, -1 for none; started: slots given a new face. */
class SlotAssignment(val faceOf: IntArray, val started: IntArray)

/**
 * Assigns faces to a fixed number of speaker slots. A detection continues the track it overlaps or whose centre is
 * near (greedy, best overlap first); a new face takes the lowest free slot (left to right when several arrive at
 * once) and starts a new track id; a track unseen for more than [graceS] frees its slot. Faces beyond the slots
 * are ignored.
 */
class SlotTracker(val slots: Int, private val graceS: Double = Tracking.GRACE_S) {
    private class Track(val id: Int, var face: FaceBox, var lastSeen: Double)

    private val tracks = arrayOfNulls<Track>(slots)
    private var nextId = 0

    /** The id of the track in slot [slot], -1 when the slot is free. */
    fun trackId(slot: Int): Int = tracks[slot]?.id ?: -1

    val tracksStarted: Int get() = nextId

    fun update(faces: List<FaceBox>, tSeconds: Double): SlotAssignment {
        for (s in 0 until slots) {
            val tr = tracks[s]
            if (tr != null && tSeconds - tr.lastSeen > graceS) tracks[s] = null
        }
        val faceOf = IntArray(slots) { -1 }
        class Pair(val iou: Double, val dist: Double, val slot: Int, val face: Int)
        val pairs = ArrayList<Pair>()
        for (s in 0 until slots) {
            val tr = tracks[s] ?: continue
            for ((j, f) in faces.withIndex()) {
                if (tr.face.continuedBy(f)) pairs.add(Pair(tr.face.iou(f), tr.face.centreDistance(f), s, j))
            }
        }
        val usedFace = BooleanArray(faces.size)
        // best overlap first, then nearest, then slot and face order (Python sorts the tuples (-iou, dist, slot, face))
        pairs.sortWith(compareBy<Pair>({ -it.iou }, { it.dist }, { it.slot }, { it.face }))
        for (p in pairs) {
            if (faceOf[p.slot] >= 0 || usedFace[p.face]) continue
            faceOf[p.slot] = p.face
            usedFace[p.face] = true
            tracks[p.slot]!!.apply { face = faces[p.face]; lastSeen = tSeconds }
        }
        val started = ArrayList<Int>()
        for (j in faces.indices.filter { !usedFace[it] }.sortedBy { faces[it].centreX }) {
            val free = (0 until slots).firstOrNull { tracks[it] == null } ?: break
            tracks[free] = Track(nextId++, faces[j], tSeconds)
            faceOf[free] = j
            started.add(free)
        }
        return SlotAssignment(faceOf, started.toIntArray())
    }
}

/**
 * The per-slot state an app keeps around [SlotTracker], as avsep separate's _Faces does: each slot's crop, held
 * while the slot has no face or its face cannot be measured this frame (the model keeps seeing the last mouth,
 * not a black square), and the face ids handed to the core's schedule: the slot's track id when its face was
 * measured this frame, else -1 (the slot is inactive for that frame; the same id back within the grace period is
 * no reset). Single-threaded: call from the camera thread.
 */
class FaceSlots(val slots: Int, val cropValues: Int, graceS: Double = Tracking.GRACE_S) {
    val tracker = SlotTracker(slots, graceS)

    /** [S, 1, c, c] row-major: what lip_step is fed; slot s's crop lies at [offset] (s). */
    val crops = FloatArray(slots * cropValues)

    private val ids = IntArray(slots) { -1 }
    private var assignment = SlotAssignment(IntArray(slots) { -1 }, IntArray(0))

    fun offset(slot: Int) = slot * cropValues

    /** A new frame's faces: returns the assignment; slots in `started` hold a new person (reset their mouth bridge). */
    fun frame(faces: List<FaceBox>, tSeconds: Double): SlotAssignment {
        ids.fill(-1)
        assignment = tracker.update(faces, tSeconds)
        return assignment
    }

    /** Slot [slot]'s face was measured and its crop written at [offset] in [crops]: the slot shows its track id. */
    fun measured(slot: Int) {
        check(assignment.faceOf[slot] >= 0) { "slot $slot has no face this frame" }
        ids[slot] = tracker.trackId(slot)
    }

    /** faces[s] for the core's frame(): the track id of each slot measured this frame, -1 for the others. */
    fun faceIds(): IntArray = ids.copyOf()
}
