// Stand-in for compiling the sample app off-device: signature copied from androidx.annotation:annotation-experimental 1.4.1 (Kotlin there too).
package androidx.annotation

import kotlin.reflect.KClass

@Retention(AnnotationRetention.BINARY)
@Target(
    AnnotationTarget.CLASS, AnnotationTarget.PROPERTY, AnnotationTarget.LOCAL_VARIABLE, AnnotationTarget.VALUE_PARAMETER,
    AnnotationTarget.CONSTRUCTOR, AnnotationTarget.FUNCTION, AnnotationTarget.PROPERTY_GETTER, AnnotationTarget.PROPERTY_SETTER,
    AnnotationTarget.FILE, AnnotationTarget.TYPEALIAS,
)
public annotation class OptIn(vararg val markerClass: KClass<out Annotation>)
