package tw.gov.taipei.android

import android.content.ContentProvider
import android.content.ContentValues
import android.database.Cursor
import android.net.Uri

/**
 * Runs the library's process-wide init before `Application.onCreate`, with the
 * application context, as the manifest merger adds it to every app that depends on
 * this library (`android/src/main/AndroidManifest.xml`): [PlatformTrust.init]. It
 * answers no queries. An app that wants to init later removes it from its manifest
 * (`tools:node="remove"`) and calls [PlatformTrust.init] itself.
 */
class TaipeiInitProvider : ContentProvider() {
    override fun onCreate(): Boolean {
        context?.let { PlatformTrust.init(it) }
        return true
    }

    override fun query(uri: Uri, projection: Array<out String>?, selection: String?, selectionArgs: Array<out String>?, sortOrder: String?): Cursor? = null
    override fun getType(uri: Uri): String? = null
    override fun insert(uri: Uri, values: ContentValues?): Uri? = null
    override fun delete(uri: Uri, selection: String?, selectionArgs: Array<out String>?): Int = 0
    override fun update(uri: Uri, values: ContentValues?, selection: String?, selectionArgs: Array<out String>?): Int = 0
}
