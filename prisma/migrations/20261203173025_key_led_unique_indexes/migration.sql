-- The unique keys of the read model lead with the key, not the tenant: the ingest probes a row by
-- its key alone (src/ingest/store.ts READ_SQL) and checks the tenant after, so no plan can read a
-- tenant's rows through another tenantId-led index (it did before the tables' first ANALYZE).
-- One transaction (src/db/migrate.ts): no moment without the constraints.

-- DropIndex
DROP INDEX "Class_tenantId_moodleCourseId_key";

-- DropIndex
DROP INDEX "Class_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Enrollment_tenantId_moodleEnrollmentId_key";

-- DropIndex
DROP INDEX "Enrollment_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Grade_tenantId_compositeKey_key";

-- DropIndex
DROP INDEX "Grade_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Payment_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Program_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Registration_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Student_tenantId_moodleUserId_key";

-- DropIndex
DROP INDEX "Student_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "StudentRequest_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Teacher_tenantId_moodleUserId_key";

-- DropIndex
DROP INDEX "Teacher_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Unit_tenantId_zohoId_key";

-- CreateIndex
CREATE UNIQUE INDEX "Class_zohoId_tenantId_key" ON "Class"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Class_moodleCourseId_tenantId_key" ON "Class"("moodleCourseId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_zohoId_tenantId_key" ON "Enrollment"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_moodleEnrollmentId_tenantId_key" ON "Enrollment"("moodleEnrollmentId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_compositeKey_tenantId_key" ON "Grade"("compositeKey", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_zohoId_tenantId_key" ON "Grade"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Payment_zohoId_tenantId_key" ON "Payment"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Program_zohoId_tenantId_key" ON "Program"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Registration_zohoId_tenantId_key" ON "Registration"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Student_zohoId_tenantId_key" ON "Student"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Student_moodleUserId_tenantId_key" ON "Student"("moodleUserId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "StudentRequest_zohoId_tenantId_key" ON "StudentRequest"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_zohoId_tenantId_key" ON "Teacher"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_moodleUserId_tenantId_key" ON "Teacher"("moodleUserId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Unit_zohoId_tenantId_key" ON "Unit"("zohoId", "tenantId");
