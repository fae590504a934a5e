// Glue: assets/avsep/ (the exported bundle) copied to a real directory on first run.
package org.avsep.sample

import android.content.Context
import org.avsep.core.BundleException
import java.io.File

/** The bundle ships in assets/avsep/ (a copy of dist/android/); models need a real file, so it is copied to filesDir. */
object AssetBundle {
    private const val ASSET_DIR = "avsep"

    /** Copies assets/avsep/ to filesDir/avsep/ unless that copy has the same manifest.json; returns the directory. */
    fun install(context: Context): File {
        val target = File(context.filesDir, ASSET_DIR)
        val shipped = try {
            context.assets.open("$ASSET_DIR/manifest.json").use { it.readBytes() }
        } catch (e: java.io.IOException) {
            throw BundleException("no bundle in the APK: copy dist/android/ into app/src/main/assets/avsep/ and rebuild")
        }
        val installed = File(target, "manifest.json")
        if (installed.isFile && installed.readBytes().contentEquals(shipped)) return target

        val staging = File(context.filesDir, "$ASSET_DIR.tmp").apply { deleteRecursively() }
        copyTree(context, ASSET_DIR, staging)
        target.deleteRecursively()
        if (!staging.renameTo(target)) throw BundleException("could not move the bundle into $target")
        return target
    }

    private fun copyTree(context: Context, assetPath: String, dest: File) {
        val children = context.assets.list(assetPath).orEmpty()
        if (children.isEmpty()) {
            dest.parentFile?.mkdirs()
            context.assets.open(assetPath).use { input -> dest.outputStream().use { input.copyTo(it) } }
            return
        }
        dest.mkdirs()
        for (child in children) copyTree(context, "$assetPath/$child", File(dest, child))
    }
}
